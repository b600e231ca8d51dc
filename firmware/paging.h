/* SPDX-License-Identifier: Apache-2.0 */
/* Growing the identity map beyond the 4 GiB that pagetables.S provides. */
#ifndef FW_PAGING_H
#define FW_PAGING_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Identity-maps [start, end), user-accessible. Only adds entries where none
 * were present, which needs no TLB flush — ring 3 could not flush anyway.
 * False if the table-page pool ran out.
 */
bool paging_map(uint64_t start, uint64_t end);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* Line-atomic console output on COM1, usable from every CPU. */
#ifndef FW_CONSOLE_H
#define FW_CONSOLE_H

void cons_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cons_lock(void);
void cons_unlock(void);
/* For the fault path only: the faulting CPU may hold the lock itself. */
void cons_break_lock(void);

#endif

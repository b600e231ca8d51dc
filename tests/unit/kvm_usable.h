/* SPDX-License-Identifier: Apache-2.0 */
/* For the unit tests that drive a real VM: whether /dev/kvm can be used here. */
#ifndef KVMLET_TESTS_UNIT_KVM_USABLE_H
#define KVMLET_TESTS_UNIT_KVM_USABLE_H

#include <stdbool.h>

/* Opens /dev/kvm; when it cannot, prints "SKIPPED: <reason>" and returns false. */
bool kvm_usable(void);

#endif

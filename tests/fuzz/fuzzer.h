/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMLET_TESTS_FUZZ_FUZZER_H
#define KVMLET_TESTS_FUZZ_FUZZER_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point, declared once so -Wmissing-prototypes holds here too. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif

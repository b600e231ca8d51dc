/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-tests. Each returns pass/fail and writes the text that goes in
 * parentheses after PASS or FAIL into @detail.
 */
#ifndef FW_TESTS_H
#define FW_TESTS_H

#include <stdbool.h>
#include <stddef.h>

bool test_smp(char *detail, size_t len);
bool test_irq(char *detail, size_t len);
bool test_mem(char *detail, size_t len);
bool test_echo(char *detail, size_t len);
bool test_kbd(char *detail, size_t len);
bool test_rng(char *detail, size_t len);
bool test_blk(char *detail, size_t len);
bool test_net(char *detail, size_t len);
bool test_hostile(char *detail, size_t len);
bool test_vsock_agent(char *detail, size_t len);
bool test_vsock_connect(char *detail, size_t len);
bool test_vsock_stream(char *detail, size_t len);
bool test_vsock_echo(char *detail, size_t len);
bool test_counter(char *detail, size_t len);
bool test_pod(char *detail, size_t len);
bool test_migrate(char *detail, size_t len);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr, prefixed with the program's name. Errors are logged
 * once, at the boundary where they are handled; library code returns them.
 */
#ifndef KVMLET_LOG_H
#define KVMLET_LOG_H

#include <stdbool.h>

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Debug output is enabled by KVMLET_DEBUG=1 in the environment, or by
 * log_set_level(LOG_DEBUG). Messages above the level are dropped; the
 * level is the process's (like stderr itself), default LOG_INFO.
 */
bool log_debug_enabled(void);
void log_set_level(enum log_level level);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_debug_enabled())                 \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif

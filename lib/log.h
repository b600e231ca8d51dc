/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging to stderr. Errors are logged once, at the boundary where they are
 * handled; library code returns them.
 *
 * Two line formats, chosen once by the program at start:
 *  - LOG_FORMAT_TEXT (the default, the VMM's): "prog: warning: message".
 *  - LOG_FORMAT_LOGFMT, for daemons whose lines a collector parses:
 *    2026-12-07T21:18:45.123456Z level=info msg="VM started" pod=web
 *    with an RFC 3339 UTC timestamp and logfmt quoting, so a newline or a
 *    quote in a message or value never starts a second line.
 *
 * Every line is one write(2) of at most LOG_LINE_MAX bytes (longer ones are
 * cut), so lines from several threads never interleave. Any thread may log.
 * The level and the format are the process's, like stderr itself.
 */
#ifndef KVMLET_LOG_H
#define KVMLET_LOG_H

#include <stdbool.h>

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_LOGFMT };

#define LOG_LINE_MAX 4096 /* PIPE_BUF: a line written to a pipe arrives whole */

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A message with fields: key, value, key, value, ..., NULL (strings; a NULL
 * value also ends the list). In the text format the fields follow the
 * message as key=value, quoted the same way.
 */
void log_fields(enum log_level level, const char *msg, ...) __attribute__((sentinel));
/*
 * Debug output is enabled by KVMLET_DEBUG=1 in the environment (read once),
 * or by log_set_level(LOG_DEBUG). Messages above the level are dropped; the
 * default is LOG_INFO.
 */
bool log_debug_enabled(void);
void log_set_level(enum log_level level);
/* Call before the program starts threads that log (a race would only mix formats). */
void log_set_format(enum log_format format);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_debug_enabled())                 \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif

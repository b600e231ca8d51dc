// SPDX-License-Identifier: Apache-2.0
/*
 * vmm/console.c on a real event loop, without a VM: the UART's pipe to the
 * CRI log, rotation with a line in progress, the part-line timer, socket
 * clients (input to the UART, raw output, the limit, a slow one dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/legacy/serial.h"
#include "lib/clock.h"
#include "lib/event_loop.h"
#include "vmm/console.h"

struct fx {
	char dir[64], log[96], sock[96];
	struct event_loop loop;
	struct console *c;
	struct serial *uart;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err err = { 0 };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kvmlet-unit-console-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/0.log", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/c.sock", f->dir);
	assert_int_equal(event_loop_init(&f->loop), 0);
	f->c = console_open(
		&f->loop,
		&(struct console_opts){ .cri_path = f->log, .raw_fd = -1, .sock_path = f->sock },
		&err);
	assert_non_null(f->c);
	f->uart = serial_create(-1, -1, (struct irq_line){ 0 });
	assert_non_null(f->uart);
	console_set_serial(f->c, f->uart);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char old[128];

	console_close(f->c);
	assert_int_equal(access(f->sock, F_OK), -1); /* the socket is removed */
	serial_destroy(f->uart);
	event_loop_fini(&f->loop);
	snprintf(old, sizeof(old), "%s.1", f->log);
	unlink(old);
	unlink(f->log);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static void guest_writes(struct fx *f, const void *s, size_t n)
{
	assert_int_equal(write(console_tx_fd(f->c), s, n), (ssize_t)n);
}

static void guest_says(struct fx *f, const char *s)
{
	guest_writes(f, s, strlen(s));
}

/* Turns the loop until nothing is ready. */
static void settle(struct fx *f)
{
	while (event_loop_run_once(&f->loop, 0) > 0)
		;
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return strcpy(buf, "");
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

/* The log's records without their timestamps: "F hello\nP x\n". */
static char *tags(const char *path)
{
	static char out[1 << 16];
	char *p = slurp(path), *o = out;

	for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		assert_true(nl - p >= 40);
		assert_memory_equal(p + 30, " stdout ", 8);
		memcpy(o, p + 38, (size_t)(nl - p) - 38 + 1);
		o += nl - p - 38 + 1;
	}
	*o = 0;
	return out;
}

static void rotation_keeps_a_line_whole(void **state)
{
	struct fx *f = *state;
	char old[128];
	struct err err = { 0 };
	struct console_stats st;

	guest_says(f, "one\ntw");
	settle(f);
	assert_string_equal(tags(f->log), "F one\n");
	snprintf(old, sizeof(old), "%s.1", f->log);
	assert_int_equal(rename(f->log, old), 0);
	/* Absent: the console creates it, 0640. */
	assert_int_equal(console_reopen(f->c, &err), 0);
	assert_int_equal(access(f->log, F_OK), 0);
	guest_says(f, "o\nthree\n");
	settle(f);
	assert_string_equal(tags(old), "F one\n");
	assert_string_equal(tags(f->log), "F two\nF three\n");
	console_stats(f->c, &st);
	assert_int_equal(st.reopens, 1);
	assert_int_equal(st.log_records, 3);
	assert_int_equal(st.log_errors, 0);
	/* A path that cannot be opened: an error, and the old file stays. */
	assert_int_equal(unlink(f->log), 0);
	assert_int_equal(mkdir(f->log, 0700), 0);
	assert_int_equal(console_reopen(f->c, &err), -EISDIR);
	assert_non_null(strstr(err.msg, "0.log"));
	assert_int_equal(rmdir(f->log), 0);
}

/* A record cut by EFBIG (RLIMIT_FSIZE) mid-way never glues onto the next. */
static void torn_record_is_cut(void **state)
{
	struct fx *f = *state;
	struct rlimit old, lim;
	struct console_stats st;
	struct stat sb;

	guest_says(f, "first\n");
	settle(f);
	assert_int_equal(stat(f->log, &sb), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){ .rlim_cur = (rlim_t)sb.st_size + 20, .rlim_max = old.rlim_max };
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	guest_says(f, "second line\n");
	settle(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	guest_says(f, "third\n");
	settle(f);
	assert_string_equal(tags(f->log), "F first\nF third\n");
	console_stats(f->c, &st);
	assert_int_equal(st.log_errors, 1);
}

static void part_line_after_a_second(void **state)
{
	struct fx *f = *state;
	uint64_t t0 = clock_mono_ms();

	guest_says(f, "login: ");
	settle(f);
	assert_string_equal(tags(f->log), "");
	while (!strcmp(tags(f->log), "") && clock_mono_ms() - t0 < 5000)
		event_loop_run_once(&f->loop, 100);
	assert_string_equal(tags(f->log), "P login: \n");
	assert_true(clock_mono_ms() - t0 >= CONSOLE_PARTIAL_MS - 50);
	guest_says(f, "root\n");
	settle(f);
	assert_string_equal(tags(f->log), "P login: \nF root\n");
	/* The guest stops mid-line: the rest is the line's F piece. */
	guest_says(f, "bye");
	settle(f);
	console_flush(f->c);
	assert_string_equal(tags(f->log), "P login: \nF root\nF bye\n");
}

static int client(struct fx *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, f->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void clients(void **state)
{
	struct fx *f = *state;
	int cl[CONSOLE_MAX_CLIENTS], extra;
	struct console_stats st;
	uint8_t b;
	char buf[64];

	assert_int_equal(stat(f->sock, &(struct stat){ 0 }), 0);
	for (int i = 0; i < CONSOLE_MAX_CLIENTS; i++)
		cl[i] = client(f);
	extra = client(f);
	settle(f);
	console_stats(f->c, &st);
	assert_int_equal(st.clients, CONSOLE_MAX_CLIENTS);
	assert_int_equal(st.clients_cut, 1);
	assert_int_equal(read(extra, buf, sizeof(buf)), 0); /* closed at once */
	close(extra);

	/* Input goes to the UART's receive FIFO; output comes back raw to everyone. */
	assert_int_equal(write(cl[2], "hi", 2), 2);
	settle(f);
	serial_bus_ops.read(f->uart, 0, &b, 1);
	assert_int_equal(b, 'h');
	serial_bus_ops.read(f->uart, 0, &b, 1);
	assert_int_equal(b, 'i');
	guest_says(f, "out\n");
	settle(f);
	for (int i = 0; i < CONSOLE_MAX_CLIENTS; i++) {
		assert_int_equal(recv(cl[i], buf, sizeof(buf), MSG_DONTWAIT), 4);
		assert_memory_equal(buf, "out\n", 4);
	}

	/* cl[0] stops reading: it is dropped, the others and the log go on. */
	for (int i = 0; i < 64; i++) {
		static char chunk[32768], sink[32768];

		memset(chunk, 'x', sizeof(chunk) - 1);
		chunk[sizeof(chunk) - 1] = '\n';
		guest_writes(f, chunk, sizeof(chunk));
		settle(f);
		for (int k = 1; k < CONSOLE_MAX_CLIENTS; k++)
			while (recv(cl[k], sink, sizeof(sink), MSG_DONTWAIT) > 0)
				;
		console_stats(f->c, &st);
		if (st.clients_cut == 2)
			break;
	}
	console_stats(f->c, &st);
	assert_int_equal(st.clients_cut, 2);
	assert_int_equal(st.clients, CONSOLE_MAX_CLIENTS - 1);
	for (int i = 0; i < CONSOLE_MAX_CLIENTS; i++)
		close(cl[i]);
	settle(f);
	console_stats(f->c, &st);
	assert_int_equal(st.clients, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rotation_keeps_a_line_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(torn_record_is_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(part_line_after_a_second, setup, teardown),
		cmocka_unit_test_setup_teardown(clients, setup, teardown),
	};

	return cmocka_run_group_tests_name("console", tests, NULL, NULL);
}

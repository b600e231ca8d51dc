// SPDX-License-Identifier: Apache-2.0
/*
 * lib/event_loop's timers: the order they fire in, periodic timers,
 * modifying, cancelling and re-arming from inside a callback, arming from
 * another thread, and that a loop with no armed timer sleeps instead of
 * spinning. Every wait is a bounded event_loop_run_once(), never a sleep.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "lib/event_loop.h"

#define WAIT_MS 5000
#define MAX_LOG 64
#define NR_T	4

struct tm_fx;

struct tmr {
	struct event_timer t;
	struct tm_fx *f;
	int idx;
};

struct tm_fx {
	struct event_loop loop;
	struct tmr t[NR_T];
	int log[MAX_LOG];
	unsigned int nr_log;
	unsigned int fired[NR_T];
	int cancel_other;     /* when t[0] fires it cancels t[cancel_other]; -1: none */
	bool cancel_self;     /* t[0] cancels itself */
	unsigned int rearm_0; /* t[0] re-arms itself with delay 0 this many times */
};

static void on_timer(struct event_timer *et)
{
	struct tmr *t = container_of(et, struct tmr, t);
	struct tm_fx *f = t->f;

	if (f->nr_log < MAX_LOG)
		f->log[f->nr_log++] = t->idx;
	f->fired[t->idx]++;
	if (t->idx != 0)
		return;
	if (f->cancel_other >= 0)
		event_timer_cancel(&f->loop, &f->t[f->cancel_other].t);
	if (f->cancel_self)
		event_timer_cancel(&f->loop, et);
	if (f->rearm_0) {
		f->rearm_0--;
		assert_int_equal(event_timer_arm(&f->loop, et, 0, 0), 0);
	}
}

static int setup(void **state)
{
	struct tm_fx *f = test_calloc(1, sizeof(*f));

	assert_int_equal(event_loop_init(&f->loop), 0);
	for (int i = 0; i < NR_T; i++) {
		event_timer_init(&f->t[i].t, on_timer);
		f->t[i].f = f;
		f->t[i].idx = i;
	}
	f->cancel_other = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct tm_fx *f = *state;

	event_loop_fini(&f->loop);
	test_free(f);
	return 0;
}

/* Runs the loop until n timer callbacks have run in total, or WAIT_MS pass. */
static void run_until(struct tm_fx *f, unsigned int n)
{
	uint64_t end = clock_mono_ms() + WAIT_MS;

	while (f->nr_log < n && clock_mono_ms() < end)
		assert_true(event_loop_run_once(&f->loop, 100) >= 0);
	assert_int_equal(f->nr_log, n);
}

/* Nothing happens for quiet_ms: the loop returns with no event at all. */
static void assert_quiet(struct tm_fx *f, int quiet_ms)
{
	unsigned int before = f->nr_log;

	assert_int_equal(event_loop_run_once(&f->loop, quiet_ms), 0);
	assert_int_equal(f->nr_log, before);
}

static void fires_in_deadline_order(void **state)
{
	struct tm_fx *f = *state;
	uint64_t start = clock_mono_ms();

	assert_int_equal(event_timer_arm(&f->loop, &f->t[0].t, 60, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 20, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[2].t, 40, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[3].t, 40, 0), 0);
	run_until(f, 4);
	assert_true(clock_mono_ms() - start >= 60);
	/* Equal deadlines fire in the order they were armed. */
	assert_int_equal(f->log[0], 1);
	assert_int_equal(f->log[1], 2);
	assert_int_equal(f->log[2], 3);
	assert_int_equal(f->log[3], 0);
	for (int i = 0; i < NR_T; i++)
		assert_false(event_timer_armed(&f->loop, &f->t[i].t));
	assert_quiet(f, 50);
}

static void periodic_until_cancelled(void **state)
{
	struct tm_fx *f = *state;
	uint64_t start = clock_mono_ms();

	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 10, 10), 0);
	run_until(f, 5);
	assert_true(clock_mono_ms() - start >= 50);
	assert_true(event_timer_armed(&f->loop, &f->t[1].t));
	event_timer_cancel(&f->loop, &f->t[1].t);
	assert_false(event_timer_armed(&f->loop, &f->t[1].t));
	assert_quiet(f, 50);
	assert_int_equal(f->fired[1], 5);
}

static void modify_moves_the_deadline(void **state)
{
	struct tm_fx *f = *state;
	uint64_t start = clock_mono_ms();

	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 60 * 1000, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[2].t, 30, 0), 0);
	/* Earlier than what the timerfd is set to, then later than the other. */
	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 10, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[2].t, 50, 0), 0);
	run_until(f, 2);
	assert_true(clock_mono_ms() - start < WAIT_MS);
	assert_int_equal(f->log[0], 1);
	assert_int_equal(f->log[1], 2);
	assert_quiet(f, 30);
}

static void cancel_inside_callback(void **state)
{
	struct tm_fx *f = *state;

	/* Due together: t[0] fires first and cancels t[1], which must not fire. */
	f->cancel_other = 1;
	assert_int_equal(event_timer_arm(&f->loop, &f->t[0].t, 5, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 5, 0), 0);
	assert_int_equal(event_timer_arm(&f->loop, &f->t[2].t, 25, 0), 0);
	run_until(f, 2);
	assert_int_equal(f->log[0], 0);
	assert_int_equal(f->log[1], 2);
	assert_int_equal(f->fired[1], 0);

	/* A periodic timer that cancels itself fires once. */
	f->cancel_other = -1;
	f->cancel_self = true;
	assert_int_equal(event_timer_arm(&f->loop, &f->t[0].t, 1, 1), 0);
	run_until(f, 3);
	assert_false(event_timer_armed(&f->loop, &f->t[0].t));
	assert_quiet(f, 30);
	assert_int_equal(f->fired[0], 2);
}

static void rearm_zero_does_not_spin(void **state)
{
	struct tm_fx *f = *state;

	/* Re-armed with delay 0 inside its callback: once per run_once, not in a loop. */
	f->rearm_0 = 3;
	assert_int_equal(event_timer_arm(&f->loop, &f->t[0].t, 0, 0), 0);
	assert_int_equal(event_loop_run_once(&f->loop, WAIT_MS), 1);
	assert_int_equal(f->fired[0], 1);
	assert_int_equal(event_loop_run_once(&f->loop, WAIT_MS), 1);
	assert_int_equal(f->fired[0], 2);
	run_until(f, 4);
	assert_false(event_timer_armed(&f->loop, &f->t[0].t));
	assert_quiet(f, 30);
}

static void *arm_later(void *arg)
{
	struct tm_fx *f = arg;

	assert_int_equal(event_timer_arm(&f->loop, &f->t[3].t, 0, 0), 0);
	return NULL;
}

static void arm_from_another_thread(void **state)
{
	struct tm_fx *f = *state;
	uint64_t start = clock_mono_ms();
	pthread_t th;

	/* A far timer sets the fd; the thread's earlier one must wake the sleeping loop. */
	assert_int_equal(event_timer_arm(&f->loop, &f->t[2].t, 60 * 1000, 0), 0);
	assert_int_equal(pthread_create(&th, NULL, arm_later, f), 0);
	while (!f->fired[3] && clock_mono_ms() - start < WAIT_MS)
		assert_true(event_loop_run_once(&f->loop, WAIT_MS) >= 0);
	pthread_join(th, NULL);
	assert_int_equal(f->fired[3], 1);
	assert_true(clock_mono_ms() - start < WAIT_MS);
	event_timer_cancel(&f->loop, &f->t[2].t);
	assert_quiet(f, 30);
}

static void idle_loop_sleeps(void **state)
{
	struct tm_fx *f = *state;
	unsigned int wakeups = 0;
	uint64_t start = clock_mono_ms();

	/* One 100 ms timer: the loop wakes about once for it, not in a spin. */
	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 100, 0), 0);
	while (!f->fired[1] && clock_mono_ms() - start < WAIT_MS) {
		assert_true(event_loop_run_once(&f->loop, WAIT_MS) >= 0);
		wakeups++;
	}
	assert_int_equal(f->fired[1], 1);
	assert_true(clock_mono_ms() - start >= 100);
	assert_true(wakeups <= 2);
	/* Cancelling the only timer leaves nothing to wake for. */
	assert_int_equal(event_timer_arm(&f->loop, &f->t[1].t, 20, 0), 0);
	event_timer_cancel(&f->loop, &f->t[1].t);
	assert_quiet(f, 60);
	/* Cancel is harmless on a timer that is not armed, and on a loop never set up. */
	event_timer_cancel(&f->loop, &f->t[1].t);
	{
		struct event_loop none = { .epfd = -1 };

		event_timer_cancel(&none, &f->t[1].t);
		event_loop_fini(&none);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(fires_in_deadline_order, setup, teardown),
		cmocka_unit_test_setup_teardown(periodic_until_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(modify_moves_the_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_inside_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(rearm_zero_does_not_spin, setup, teardown),
		cmocka_unit_test_setup_teardown(arm_from_another_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_loop_sleeps, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

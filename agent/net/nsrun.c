// SPDX-License-Identifier: Apache-2.0
#include "agent/net/nsrun.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

struct nsrun_call {
	int nsfd;
	nsrun_fn *fn;
	void *arg;
	struct err err;
	int ret;
};

static void *nsrun_thread(void *p)
{
	struct nsrun_call *c = p;

	if (setns(c->nsfd, CLONE_NEWNET) < 0)
		c->ret = err_set(&c->err, -errno, "setns: %s", strerror(errno));
	else
		c->ret = c->fn(c->arg, &c->err);
	return NULL;
}

int nsrun(const char *netns_path, nsrun_fn *fn, void *arg, struct err *err)
{
	struct nsrun_call c = { .fn = fn, .arg = arg };
	pthread_t t;

	c.nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (c.nsfd < 0)
		return err_set(err, -errno, "network namespace %s: %s", netns_path,
			       strerror(errno));
	int r = pthread_create(&t, NULL, nsrun_thread, &c);

	if (r) {
		close(c.nsfd);
		return err_set(err, -r, "network namespace thread: %s", strerror(r));
	}
	pthread_join(t, NULL);
	close(c.nsfd);
	if (c.ret < 0) {
		err_set(err, c.ret, "%s", c.err.msg);
		return c.ret;
	}
	return c.ret;
}

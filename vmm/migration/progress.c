// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "vmm/migration/progress.h"

static const char *const phase_names[] = {
	[MIG_PHASE_NONE] = "none",
	[MIG_PHASE_LISTENING] = "listening",
	[MIG_PHASE_RECEIVING] = "receiving",
	[MIG_PHASE_PRECOPY] = "precopy",
	[MIG_PHASE_STOP_AND_COPY] = "stop-and-copy",
	[MIG_PHASE_COMPLETING] = "completing",
	[MIG_PHASE_COMPLETED] = "completed",
	[MIG_PHASE_FAILED] = "failed",
	[MIG_PHASE_CANCELLED] = "cancelled",
};

const char *mig_phase_name(enum mig_phase p)
{
	return (unsigned int)p <= MIG_PHASE_CANCELLED ? phase_names[p] : "?";
}

void mig_progress_init(struct mig_progress *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
}

static bool active(const struct mig_progress *p)
{
	return p->phase != MIG_PHASE_NONE && p->phase != MIG_PHASE_COMPLETED &&
	       p->phase != MIG_PHASE_FAILED && p->phase != MIG_PHASE_CANCELLED;
}

bool mig_progress_active(struct mig_progress *p)
{
	bool a;

	pthread_mutex_lock(&p->lock);
	a = active(p);
	pthread_mutex_unlock(&p->lock);
	return a;
}

void mig_progress_begin(struct mig_progress *p, enum mig_role role, enum mig_phase phase)
{
	pthread_mutex_lock(&p->lock);
	p->role = role;
	p->phase = phase;
	p->iteration = p->bytes_sent = p->pages_sent = p->pages_remaining = 0;
	p->dirty_rate_mibps = p->bandwidth_mibps = p->expected_downtime_ms = 0;
	p->throttle_percent = p->throttle_max_percent = 0;
	p->downtime_ms = p->total_ms = 0;
	p->error[0] = '\0';
	p->cancel = false;
	pthread_mutex_unlock(&p->lock);
}

void mig_progress_set_phase(struct mig_progress *p, enum mig_phase phase)
{
	pthread_mutex_lock(&p->lock);
	p->phase = phase;
	pthread_mutex_unlock(&p->lock);
}

void mig_progress_end(struct mig_progress *p, enum mig_phase phase, const char *why)
{
	pthread_mutex_lock(&p->lock);
	p->phase = phase;
	p->throttle_percent = 0;
	if (why && why != p->error)
		snprintf(p->error, sizeof(p->error), "%s", why);
	if (phase == MIG_PHASE_COMPLETED) {
		p->nr_completed++;
		p->last_downtime_ms = p->downtime_ms;
	} else if (phase == MIG_PHASE_CANCELLED) {
		p->nr_cancelled++;
	} else {
		p->nr_failed++;
	}
	p->total_bytes += p->bytes_sent;
	p->total_iterations += p->iteration;
	pthread_mutex_unlock(&p->lock);
}

bool mig_progress_request_cancel(struct mig_progress *p, char *msg, size_t cap)
{
	bool a;

	pthread_mutex_lock(&p->lock);
	a = active(p) && p->role == MIG_ROLE_SOURCE;
	if (a)
		p->cancel = true;
	else
		snprintf(msg, cap, "no outgoing migration to cancel (phase %s%s)",
			 mig_phase_name(p->phase),
			 p->role == MIG_ROLE_TARGET ? ", this VMM is a migration target" : "");
	pthread_mutex_unlock(&p->lock);
	return a;
}

bool mig_progress_cancelled(struct mig_progress *p)
{
	bool c;

	pthread_mutex_lock(&p->lock);
	c = p->cancel;
	pthread_mutex_unlock(&p->lock);
	return c;
}

cJSON *mig_progress_json(struct mig_progress *p)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	pthread_mutex_lock(&p->lock);
	cJSON_AddStringToObject(o, "phase", mig_phase_name(p->phase));
	if (p->role != MIG_ROLE_NONE)
		cJSON_AddStringToObject(o, "role",
					p->role == MIG_ROLE_SOURCE ? "source" : "target");
	cJSON_AddNumberToObject(o, "iteration", (double)p->iteration);
	cJSON_AddNumberToObject(o, "bytes_sent", (double)p->bytes_sent);
	cJSON_AddNumberToObject(o, "pages_sent", (double)p->pages_sent);
	cJSON_AddNumberToObject(o, "pages_remaining", (double)p->pages_remaining);
	cJSON_AddNumberToObject(o, "dirty_rate_mibps", p->dirty_rate_mibps);
	cJSON_AddNumberToObject(o, "bandwidth_mibps", p->bandwidth_mibps);
	cJSON_AddNumberToObject(o, "expected_downtime_ms", p->expected_downtime_ms);
	cJSON_AddNumberToObject(o, "throttle_percent", p->throttle_percent);
	cJSON_AddNumberToObject(o, "throttle_max_percent", p->throttle_max_percent);
	cJSON_AddNumberToObject(o, "downtime_ms", p->downtime_ms);
	cJSON_AddNumberToObject(o, "total_ms", p->total_ms);
	if (p->error[0])
		cJSON_AddStringToObject(o, "error", p->error);
	pthread_mutex_unlock(&p->lock);
	return o;
}

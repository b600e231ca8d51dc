// SPDX-License-Identifier: Apache-2.0
#include "vmm/migration/policy.h"

double mig_expected_downtime_ms(const struct mig_measure *m)
{
	if (!m->remaining_bytes)
		return 0;
	if (m->bandwidth_bps <= 0)
		return 1e12;
	return (double)m->remaining_bytes * 1000.0 / m->bandwidth_bps;
}

enum mig_decision mig_decide(const struct mig_measure *m, uint64_t downtime_ms)
{
	return mig_expected_downtime_ms(m) <= (double)downtime_ms ? MIG_STOP_AND_COPY : MIG_ITERATE;
}

unsigned int mig_next_throttle(unsigned int current, bool auto_converge,
			       const struct mig_measure *m)
{
	unsigned int next;

	if (!auto_converge || m->dirty_bps * 100 <= m->bandwidth_bps * MIG_THROTTLE_TRIGGER_PCT)
		return current;
	next = current ? current + MIG_THROTTLE_INCREMENT : MIG_THROTTLE_INITIAL;
	return next > MIG_THROTTLE_MAX ? MIG_THROTTLE_MAX : next;
}

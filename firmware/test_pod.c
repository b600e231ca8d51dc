// SPDX-License-Identifier: Apache-2.0
/*
 * pod: what a kvmlet VM pod runs. Prints
 *
 *     kvmlet-testguest: pod ready (vsock agent on port <p>)
 *
 * then serves the guest agent on vsock (vsock_serve.h) with no idle
 * timeout, and in the same loop watches the keyboard for Ctrl+Alt+Del.
 * Ctrl+Alt+Del, guest-shutdown (powerdown, halt) or the raw line "quit"
 * end the test with PASS, so the VM powers off with status 0;
 * guest-shutdown mode=reboot resets it instead. kvmlet.pod_tick_ms=N also
 * prints "tick <n>" every N ms (n = 1, 2, ...), for log rotation tests.
 */
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "exit.h"
#include "fmt.h"
#include "kbd.h"
#include "tests.h"
#include "vsock_serve.h"

#define TICK_MS_MAX 3600000

struct pod {
	struct kbd_cad kbd;
	bool cad;
	uint64_t tick_us, ticks;
	struct deadline next_tick;
};

static void pod_ready(void *ctx, uint32_t port)
{
	cons_printf("kvmlet-testguest: pod ready (vsock agent on port %u)\n", port);
}

static bool pod_hook(void *ctx)
{
	struct pod *p = ctx;
	uint8_t sc;

	if (p->tick_us && deadline_passed(&p->next_tick)) {
		p->next_tick = deadline_in_us(p->tick_us);
		cons_printf("tick %lu\n", ++p->ticks);
	}
	/* Bounded: a held key's repeats wait for the next call. */
	for (unsigned int i = 0; i < 16 && kbd_read(&sc); i++) {
		if (kbd_cad_feed(&p->kbd, sc)) {
			p->cad = true;
			return true;
		}
	}
	return false;
}

bool test_pod(char *detail, size_t len)
{
	uint64_t tick_ms = cmdline_get_u64(bootinfo.cmdline, "kvmlet.pod_tick_ms", 0);
	struct pod p = { 0 };
	struct agent_serve_opts o = {
		.idle_us = 0, .ready = pod_ready, .hook = pod_hook, .ctx = &p
	};
	struct agent_serve_result r;

	clock_init();
	if (tick_ms > TICK_MS_MAX)
		tick_ms = TICK_MS_MAX;
	p.tick_us = tick_ms * 1000;
	p.next_tick = deadline_in_us(p.tick_us);
	kbd_drain();
	if (!agent_serve_vsock(&o, &r, detail, len))
		return false;
	switch (r.end) {
	case AGENT_END_HOOK:
		cons_printf("kvmlet-testguest: ctrl-alt-del, powering off\n");
		fmt_snprintf(detail, len, "Ctrl+Alt+Del, %lu connections, %lu requests", r.accepted,
			     r.requests);
		break;
	case AGENT_END_SHUTDOWN:
		cons_printf("kvmlet-testguest: guest-shutdown, %s\n",
			    r.power == AGENT_POWER_RESET ? "rebooting" : "powering off");
		fmt_snprintf(detail, len, "guest-shutdown, %lu connections, %lu requests",
			     r.accepted, r.requests);
		fw_power_request(r.power == AGENT_POWER_RESET ? FW_POWER_RESET : FW_POWER_OFF);
		break;
	case AGENT_END_QUIT:
	case AGENT_END_IDLE: /* not with idle_us 0 */
		fmt_snprintf(detail, len, "quit, %lu connections, %lu requests", r.accepted,
			     r.requests);
		break;
	}
	return true;
}

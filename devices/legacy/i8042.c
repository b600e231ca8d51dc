// SPDX-License-Identifier: Apache-2.0
/*
 * The i8042 and its keyboard, as far as Linux's i8042 and atkbd drivers
 * look. Controller and keyboard share one output queue: the real
 * controller has a one-byte output register fed by the keyboard's own
 * buffer, and a guest cannot tell the difference.
 *
 * Scan codes are set 2 as the keyboard sends them; with XLATE in the
 * command byte (the power-on default, which Linux keeps) the controller
 * hands the guest set 1, and so do we.
 *
 * There is no mouse port. Linux probes for one with the AUX loopback
 * command, expecting the byte back flagged as AUX data: we give it back
 * unflagged, so the probe fails at once instead of after a timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "devices/legacy/i8042.h"
#include "kvmlet/exit_codes.h"
#include "kvmlet/platform.h"

#define I8042_CMD_OFFSET (PLAT_I8042_CMD_PORT - PLAT_I8042_DATA_PORT)
#define I8042_BUF	 16 /* the keyboard's buffer */

/* Status register */
#define STS_OBF	     0x01 /* output buffer full */
#define STS_SYS	     0x04 /* the command byte's SYS flag */
#define STS_CMD	     0x08 /* the last write went to the command port */
#define STS_UNLOCKED 0x10 /* keyboard not inhibited */

/* Command byte */
#define CTR_KBDINT   0x01
#define CTR_SYS	     0x04
#define CTR_KBDDIS   0x10
#define CTR_AUXDIS   0x20
#define CTR_XLATE    0x40
#define CTR_POWER_ON (CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE)

/* Controller commands */
#define CMD_READ_CTR	0x20
#define CMD_WRITE_CTR	0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE	0xa8
#define CMD_SELF_TEST	0xaa
#define CMD_KBD_TEST	0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE	0xae
#define CMD_READ_OUTP	0xd0
#define CMD_WRITE_OUTP	0xd1
#define CMD_WRITE_KBD	0xd2 /* the next data byte, as if the keyboard sent it */
#define CMD_AUX_LOOP	0xd3
#define CMD_WRITE_AUX	0xd4
#define CMD_PULSE	0xf0 /* 0xf0-0xff: pulse output lines; bit 0 clear resets */

/* Keyboard commands and replies */
#define KBD_SET_LEDS 0xed
#define KBD_ECHO     0xee
#define KBD_SCANSET  0xf0
#define KBD_GET_ID   0xf2
#define KBD_RATE     0xf3
#define KBD_ENABLE   0xf4
#define KBD_DISABLE  0xf5
#define KBD_DEFAULTS 0xf6
#define KBD_RESEND   0xfe
#define KBD_RESET    0xff
#define KBD_ACK	     0xfa
#define KBD_BAT_OK   0xaa
#define KBD_ID	     0xab
#define KBD_ID2_SET2 0x83 /* MF2 keyboard */
#define KBD_ID2_XL   0x41 /* ... as the translating controller passes it on */

static const struct device_ops i8042_device_ops;

struct i8042 {
	struct device dev;
	pthread_mutex_t lock;
	struct machine_exit *exit;
	struct irq_line irq;
	bool irq_level;

	uint8_t ctr;
	bool last_cmd;	   /* STS_CMD */
	uint8_t ctl_param; /* controller command waiting for its data byte; 0: none */
	uint8_t kbd_param; /* keyboard command waiting for its parameter; 0: none */
	bool kbd_enabled;  /* scanning, KBD_ENABLE / KBD_DISABLE */
	uint8_t last_out;  /* what the data port reads when nothing is queued */

	uint8_t out[I8042_BUF];
	unsigned int out_head, out_len;
};

static void i8042_set_irq(struct i8042 *k, bool level)
{
	k->irq_level = level;
	if (k->irq.set)
		k->irq.set(k->irq.ctx, k->irq.gsi, level);
}

static void i8042_update_irq(struct i8042 *k)
{
	bool level = k->out_len && (k->ctr & CTR_KBDINT);

	if (level != k->irq_level)
		i8042_set_irq(k, level);
}

static unsigned int out_room(const struct i8042 *k)
{
	return I8042_BUF - k->out_len;
}

/* A reply that does not fit is lost, as on a keyboard whose buffer overflowed. */
static void out_push(struct i8042 *k, uint8_t b)
{
	if (!out_room(k))
		return;
	k->out[(k->out_head + k->out_len++) % I8042_BUF] = b;
}

static uint8_t out_pop(struct i8042 *k)
{
	if (k->out_len) {
		k->last_out = k->out[k->out_head];
		k->out_head = (k->out_head + 1) % I8042_BUF;
		k->out_len--;
	}
	return k->last_out;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	return (k->out_len ? STS_OBF : 0) | (k->ctr & CTR_SYS ? STS_SYS : 0) |
	       (k->last_cmd ? STS_CMD : 0) | STS_UNLOCKED;
}

static void i8042_reset_machine(struct i8042 *k)
{
	k->exit->request(k->exit->ctx, KVMLET_EXIT_GUEST_RESET, "guest reset the machine (i8042)");
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	k->ctl_param = 0;
	switch (cmd) {
	case CMD_READ_CTR:
		out_push(k, k->ctr);
		return;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD:
	case CMD_AUX_LOOP:
	case CMD_WRITE_AUX:
		k->ctl_param = cmd;
		return;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUXDIS;
		return;
	case CMD_AUX_ENABLE:
		k->ctr &= ~CTR_AUXDIS;
		return;
	case CMD_SELF_TEST:
		out_push(k, 0x55);
		return;
	case CMD_KBD_TEST:
		out_push(k, 0x00);
		return;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBDDIS;
		return;
	case CMD_KBD_ENABLE:
		k->ctr &= ~CTR_KBDDIS;
		return;
	case CMD_READ_OUTP:
		/* Reset line inactive (high), A20 enabled. */
		out_push(k, 0x03);
		return;
	}
	if (cmd >= CMD_PULSE && !(cmd & 1))
		i8042_reset_machine(k);
}

static void i8042_command_param(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = v;
		break;
	case CMD_WRITE_OUTP:
		if (!(v & 1))
			i8042_reset_machine(k);
		break;
	case CMD_WRITE_KBD:
	case CMD_AUX_LOOP: /* unflagged: see the top of the file */
		out_push(k, v);
		break;
	default: /* CMD_WRITE_AUX: no mouse to take it */
		break;
	}
}

static void kbd_defaults(struct i8042 *k)
{
	k->kbd_param = 0;
	k->kbd_enabled = true;
}

/* A byte for the keyboard: a command, or the parameter of the previous one. */
static void kbd_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->kbd_param;

	if (cmd) {
		k->kbd_param = 0;
		out_push(k, KBD_ACK);
		/* Only set 2 is spoken; a query (0) learns so. */
		if (cmd == KBD_SCANSET && v == 0)
			out_push(k, 2);
		return;
	}
	switch (v) {
	case KBD_SET_LEDS:
	case KBD_RATE:
	case KBD_SCANSET:
		k->kbd_param = v;
		out_push(k, KBD_ACK);
		return;
	case KBD_GET_ID:
		out_push(k, KBD_ACK);
		out_push(k, KBD_ID);
		out_push(k, k->ctr & CTR_XLATE ? KBD_ID2_XL : KBD_ID2_SET2);
		return;
	case KBD_ECHO:
		out_push(k, KBD_ECHO);
		return;
	case KBD_ENABLE:
		k->kbd_enabled = true;
		out_push(k, KBD_ACK);
		return;
	case KBD_DISABLE:
		kbd_defaults(k);
		k->kbd_enabled = false;
		out_push(k, KBD_ACK);
		return;
	case KBD_DEFAULTS:
		kbd_defaults(k);
		out_push(k, KBD_ACK);
		return;
	case KBD_RESET:
		/* The keyboard drops what it had buffered and passes its self-test. */
		k->out_len = 0;
		kbd_defaults(k);
		out_push(k, KBD_ACK);
		out_push(k, KBD_BAT_OK);
		return;
	}
	/* 0xf7-0xfd are set 3 key modes: accepted and ignored. */
	out_push(k, v >= 0xf7 && v <= KBD_RESEND ? KBD_ACK : KBD_RESEND);
}

static void i8042_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v;

	memset(data, 0, len);
	pthread_mutex_lock(&k->lock);
	if (offset == I8042_CMD_OFFSET) {
		v = i8042_status(k);
	} else if (offset == 0) {
		v = out_pop(k);
		/*
		 * IRQ 1 is edge-triggered and the guest takes one byte per
		 * interrupt: each further byte needs an edge of its own.
		 */
		if (k->irq_level)
			i8042_set_irq(k, false);
	} else {
		v = 0; /* ports 0x61-0x63 are not ours; 0 means no NMI reason either */
	}
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	*(uint8_t *)data = v;
}

static void i8042_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct i8042 *k = opaque;
	uint8_t v = *(const uint8_t *)data;

	pthread_mutex_lock(&k->lock);
	if (offset == I8042_CMD_OFFSET) {
		k->last_cmd = true;
		i8042_command(k, v);
	} else if (offset == 0) {
		uint8_t cmd = k->ctl_param;

		k->last_cmd = false;
		k->ctl_param = 0;
		if (cmd)
			i8042_command_param(k, cmd, v);
		else
			kbd_write(k, v);
	}
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

const struct bus_ops i8042_bus_ops = {
	.read = i8042_read,
	.write = i8042_write,
};

struct i8042 *i8042_create(struct machine_exit *exit, struct irq_line kbd_irq)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->exit = exit;
	k->irq = kbd_irq;
	k->ctr = CTR_POWER_ON;
	kbd_defaults(k);
	k->dev = (struct device){ &i8042_device_ops, "i8042", NULL, "i8042" };
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* Appends one key's make or break code, in the set the guest reads. */
static unsigned int key_code(const struct i8042 *k, uint8_t *p, bool ext, uint8_t set2,
			     uint8_t set1, bool release)
{
	unsigned int n = 0;

	if (ext)
		p[n++] = 0xe0;
	if (k->ctr & CTR_XLATE) {
		p[n++] = release ? set1 | 0x80 : set1;
	} else {
		if (release)
			p[n++] = 0xf0;
		p[n++] = set2;
	}
	return n;
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	/* Left Ctrl, left Alt, Delete (an extended key): set 2 and set 1 codes. */
	static const struct {
		bool ext;
		uint8_t set2, set1;
	} keys[] = { { false, 0x14, 0x1d }, { false, 0x11, 0x38 }, { true, 0x71, 0x53 } };
	const unsigned int nr = sizeof(keys) / sizeof(keys[0]);
	uint8_t seq[4 * 2 * 3];
	unsigned int n = 0;
	int r = 0;

	pthread_mutex_lock(&k->lock);
	/* Pressed in order, released in reverse, as a person would. */
	for (unsigned int i = 0; i < nr; i++)
		n += key_code(k, seq + n, keys[i].ext, keys[i].set2, keys[i].set1, false);
	for (unsigned int i = nr; i--;)
		n += key_code(k, seq + n, keys[i].ext, keys[i].set2, keys[i].set1, true);
	if (!k->kbd_enabled || (k->ctr & CTR_KBDDIS))
		r = -EBUSY;
	else if (out_room(k) < n)
		r = -ENOSPC;
	for (unsigned int i = 0; !r && i < n; i++)
		out_push(k, seq[i]);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return r;
}

void i8042_save(struct i8042 *k, struct state_writer *w)
{
	pthread_mutex_lock(&k->lock);
	state_put_u8(w, k->ctr);
	state_put_u8(w, k->last_cmd);
	state_put_u8(w, k->ctl_param);
	state_put_u8(w, k->kbd_param);
	state_put_u8(w, k->kbd_enabled);
	state_put_u8(w, k->last_out);
	state_put_u8(w, (uint8_t)k->out_len);
	for (unsigned int i = 0; i < k->out_len; i++)
		state_put_u8(w, k->out[(k->out_head + i) % I8042_BUF]);
	pthread_mutex_unlock(&k->lock);
}

static bool param_cmd_ok(uint8_t c)
{
	return !c || c == CMD_WRITE_CTR || c == CMD_WRITE_OUTP || c == CMD_WRITE_KBD ||
	       c == CMD_AUX_LOOP || c == CMD_WRITE_AUX;
}

int i8042_restore(struct i8042 *k, struct state_reader *r, struct err *err)
{
	uint8_t ctr = state_get_u8(r), last_cmd = state_get_u8(r);
	uint8_t ctl_param = state_get_u8(r), kbd_param = state_get_u8(r);
	uint8_t enabled = state_get_u8(r), last_out = state_get_u8(r);
	uint8_t n = state_get_u8(r), out[I8042_BUF];

	if (!r->bad && n > I8042_BUF)
		return err_set(err, -EINVAL, "i8042: %u bytes in a %u-byte buffer", n, I8042_BUF);
	state_get(r, out, n);
	if (!state_done(r))
		return err_set(err, -EBADMSG, "i8042: device state is %s",
			       r->bad ? "truncated" : "followed by unexpected bytes");
	if (!param_cmd_ok(ctl_param) || (kbd_param && kbd_param != KBD_SET_LEDS &&
					 kbd_param != KBD_RATE && kbd_param != KBD_SCANSET))
		return err_set(err, -EINVAL, "i8042: invalid pending command");

	pthread_mutex_lock(&k->lock);
	k->ctr = ctr;
	k->last_cmd = last_cmd;
	k->ctl_param = ctl_param;
	k->kbd_param = kbd_param;
	k->kbd_enabled = enabled;
	k->last_out = last_out;
	memcpy(k->out, out, n);
	k->out_head = 0;
	k->out_len = n;
	/* Driven either way: the line's level in the new irqchip is not known. */
	i8042_set_irq(k, k->out_len && (k->ctr & CTR_KBDINT));
	pthread_mutex_unlock(&k->lock);
	return 0;
}

/* ---- the device lifecycle ---- */

static struct i8042 *i8042_of_dev(struct device *dev)
{
	return container_of(dev, struct i8042, dev);
}

static void i8042_dev_save(struct device *dev, struct state_writer *w)
{
	i8042_save(i8042_of_dev(dev), w);
}

static int i8042_dev_restore(struct device *dev, struct state_reader *r, struct err *err)
{
	return i8042_restore(i8042_of_dev(dev), r, err);
}

static void i8042_dev_destroy(struct device *dev)
{
	i8042_destroy(i8042_of_dev(dev));
}

static const struct device_ops i8042_device_ops = {
	.section = DEVICE_SECTION_I8042,
	.save = i8042_dev_save,
	.restore = i8042_dev_restore,
	.destroy = i8042_dev_destroy,
};

struct device *i8042_device(struct i8042 *k)
{
	return &k->dev;
}

struct i8042 *i8042_from_device(struct device *dev)
{
	return dev && dev->ops == &i8042_device_ops ? i8042_of_dev(dev) : NULL;
}

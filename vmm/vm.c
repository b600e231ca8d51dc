// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/legacy/debug_exit.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/vsock/vsock.h"
#include "kvmlet/exit_codes.h"
#include "kvmlet/platform.h"
#include "lib/file_map.h"
#include "lib/log.h"
#include "vmm/boot/boot.h"
#include "vmm/console.h"
#include "vmm/mptable.h"
#include "vmm/virtio_slot.h"
#include "vmm/vm.h"

#define KVM_DEVICE_DEFAULT "/dev/kvm"
#define KVM_DEVICE_ENV	   "KVMLET_KVM_DEVICE" /* for tests of a missing or foreign device */

bool vm_exiting(const struct vm *vm)
{
	return __atomic_load_n(&vm->exiting, __ATOMIC_ACQUIRE);
}

void vm_request_exit(struct vm *vm, int code, const char *reason)
{
	bool expected = false;
	uint64_t one = 1;

	if (!__atomic_compare_exchange_n(&vm->exiting, &expected, true, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	vm->exit_code = code;
	snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", reason);
	/* Parked vCPUs must see it too. */
	pthread_mutex_lock(&vm->run_lock);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	if (code == KVMLET_EXIT_VMM_ERROR || code == KVMLET_EXIT_GUEST_CRASH)
		log_error("%s", reason);
	else
		log_info("%s", reason);
	if (write(vm->exit_ev.fd, &one, sizeof(one)) < 0)
		log_debug("exit eventfd: %s", strerror(errno));
}

static void vm_exit_hook(void *ctx, int code, const char *reason)
{
	vm_request_exit(ctx, code, reason);
}

static void vm_set_irq(void *ctx, unsigned int gsi, bool level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		log_debug("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

static int vm_create_kvm_vm(struct vm *vm, struct err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = PLAT_KVM_IDENTITY_MAP;
	int r;

	vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return err_set(err, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	/* Intel needs these pages for real mode; they sit in the MMIO hole. */
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0 ||
	    ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)PLAT_KVM_TSS_ADDR) < 0)
		return err_set(err, -errno, "placing KVM's TSS: %s", strerror(errno));
	/* Slots before the irqchip: the other order makes each slot far slower to add. */
	r = gm_kvm_map(&vm->mem, vm->fd, err);
	if (r)
		return r;
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return err_set(err, -errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		return err_set(err, -errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

static int vm_load_kernel(struct vm *vm, const struct vm_config *cfg, struct boot_entry *entry,
			  struct err *err)
{
	struct file_map kernel, initrd = { 0 };
	struct boot_input in;
	int r;

	r = file_map_open(&kernel, cfg->kernel_path, "kernel", err);
	if (r)
		return r;
	if (cfg->initrd_path) {
		r = file_map_open(&initrd, cfg->initrd_path, "initrd", err);
		if (!r && !initrd.size)
			r = err_set(err, -EINVAL, "initrd '%s' is empty", cfg->initrd_path);
	}
	if (!r) {
		in = (struct boot_input){
			.kernel = kernel.data,
			.kernel_size = kernel.size,
			.initrd = initrd.data,
			.initrd_size = initrd.size,
			.cmdline = vm->cmdline,
		};
		r = boot_load(&vm->mem, &in, entry, err);
	}
	file_map_close(&initrd);
	file_map_close(&kernel);
	return r;
}

static int vm_register_pio(struct vm *vm, uint64_t port, uint64_t n, const struct bus_ops *ops,
			   void *opaque, const char *name, struct err *err)
{
	int r = bus_register(&vm->pio, port, n, ops, opaque, name);

	return r ? err_set(err, r, "claiming ports 0x%llx for %s: %s", (unsigned long long)port,
			   name, strerror(-r))
		 : 0;
}

static int vm_open_serial_out(const struct vm_config *cfg, struct err *err)
{
	int fd;

	switch (cfg->serial) {
	case SERIAL_STDIO:
		return STDOUT_FILENO;
	case SERIAL_NONE:
	case SERIAL_CRI: /* the console opens it (vmm/console.c) */
		return -1;
	case SERIAL_FILE:
		fd = open(cfg->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0)
			return err_set(err, -errno, "cannot open serial output '%s': %s",
				       cfg->serial_path, strerror(errno));
		return fd;
	}
	return -1;
}

static void vm_serial_tx_hook(void *ctx)
{
	struct vm *vm = ctx;

	serial_coalesce_stop(&vm->coalesce);
}

/* From here on the registry owns dev, and destroys it with the VM; on failure, dev is gone. */
static int vm_add_device(struct vm *vm, struct device *dev, struct err *err)
{
	int r = registry_add(&vm->devices, dev);

	if (r) {
		err_set(err, r, "%s: more than %u devices", dev->name, REGISTRY_MAX_DEVICES);
		dev->ops->destroy(dev);
	}
	return r;
}

/* The serial port that stdin feeds: the board's console. */
static struct serial *vm_console(const struct vm *vm)
{
	return serial_from_device(registry_find(&vm->devices, "serial", NULL));
}

static int vm_add_devices(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct irq_line com1 = { .set = vm_set_irq, .ctx = vm, .gsi = PLAT_COM1_IRQ };
	struct irq_line kbd = { .set = vm_set_irq, .ctx = vm, .gsi = PLAT_I8042_KBD_IRQ };
	struct serial *serial;
	struct i8042 *i8042;
	int out, r;

	out = vm_open_serial_out(cfg, err);
	if (out < -1)
		return out;
	vm->serial_out_fd = cfg->serial == SERIAL_FILE ? out : -1;
	/* A CRI log or console clients: the UART writes to the console's pipe instead. */
	if (cfg->serial == SERIAL_CRI || cfg->console_sock) {
		const struct console_opts co = {
			.cri_path = cfg->serial == SERIAL_CRI ? cfg->serial_path : NULL,
			.raw_fd = out,
			.sock_path = cfg->console_sock,
		};

		vm->console = console_open(&vm->loop, &co, err);
		if (!vm->console)
			return err->code ? err->code : -ENOMEM;
		out = console_tx_fd(vm->console);
	}
	serial = serial_create(out, vm->rx_room_ev.fd, com1);
	if (!serial)
		return err_set(err, -ENOMEM, "out of memory");
	r = vm_add_device(vm, serial_device(serial), err);
	if (r)
		return r;
	if (vm->console)
		console_set_serial(vm->console, serial);
	serial_set_tx_hook(serial, vm_serial_tx_hook, vm);
	i8042 = i8042_create(&vm->exit_hook, kbd);
	if (!i8042)
		return err_set(err, -ENOMEM, "out of memory");
	r = vm_add_device(vm, i8042_device(i8042), err);
	if (r)
		return r;

	r = vm_register_pio(vm, PLAT_COM1_PORT, SERIAL_NR_PORTS, &serial_bus_ops, serial, "serial",
			    err);
	if (!r)
		r = vm_register_pio(vm, PLAT_I8042_DATA_PORT, I8042_NR_PORTS, &i8042_bus_ops, i8042,
				    "i8042", err);
	if (!r)
		r = vm_register_pio(vm, PLAT_DEBUG_EXIT_PORT, DEBUG_EXIT_NR_PORTS,
				    &debug_exit_bus_ops, &vm->exit_hook, "debug-exit", err);
	if (r)
		return r;
	r = bus_register(&vm->mmio, PLAT_BOOT_TIMER_ADDR, PLAT_BOOT_TIMER_SIZE, &boot_timer_bus_ops,
			 &vm->boot_timer, "boot-timer");
	if (r)
		return err_set(err, r, "claiming the boot-timer: %s", strerror(-r));
	return 0;
}

/* Host input goes to the guest only as fast as the UART FIFO takes it. */
static void vm_stdin_feed(struct vm *vm)
{
	size_t n = serial_receive(vm_console(vm), vm->stdin_buf + vm->stdin_off,
				  vm->stdin_len - vm->stdin_off);

	vm->stdin_off += n;
	if (vm->stdin_off < vm->stdin_len) {
		if (vm->stdin_watched && event_loop_del(&vm->loop, &vm->stdin_ev) == 0)
			vm->stdin_watched = false;
	} else {
		vm->stdin_off = vm->stdin_len = 0;
	}
}

static void vm_on_stdin(struct event_handler *h, uint32_t events)
{
	struct vm *vm = container_of(h, struct vm, stdin_ev);
	ssize_t n = read(h->fd, vm->stdin_buf, sizeof(vm->stdin_buf));

	if (n <= 0) {
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		/* End of input: the guest simply gets no more. */
		event_loop_del(&vm->loop, h);
		vm->stdin_watched = false;
		return;
	}
	vm->stdin_len = (size_t)n;
	vm->stdin_off = 0;
	vm_stdin_feed(vm);
}

static void vm_on_rx_room(struct event_handler *h, uint32_t events)
{
	struct vm *vm = container_of(h, struct vm, rx_room_ev);
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0)
		return;
	if (vm->console)
		console_on_rx_room(vm->console);
	if (vm->stdin_len)
		vm_stdin_feed(vm);
	if (!vm->stdin_len && !vm->stdin_watched && vm->stdin_ev.fd >= 0 &&
	    event_loop_add(&vm->loop, &vm->stdin_ev, EPOLLIN) == 0)
		vm->stdin_watched = true;
}

static void vm_on_exit(struct event_handler *h, uint32_t events)
{
	uint64_t v;

	/* vm->exiting is already set; waking the loop was the point. */
	if (read(h->fd, &v, sizeof(v)) < 0)
		return;
}

static int vm_setup_events(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	sigset_t block;
	int r;

	r = event_loop_init(&vm->loop);
	if (r)
		return err_set(err, r, "epoll: %s", strerror(-r));
	vm->exit_ev = (struct event_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), vm_on_exit };
	vm->rx_room_ev =
		(struct event_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), vm_on_rx_room };
	if (vm->exit_ev.fd < 0 || vm->rx_room_ev.fd < 0)
		return err_set(err, -errno, "eventfd: %s", strerror(errno));

	/* Only vCPU threads take the kick; the process handles stop signals (vmm.c). */
	sigemptyset(&block);
	sigaddset(&block, vcpu_kick_signal());
	if (pthread_sigmask(SIG_BLOCK, &block, NULL))
		return err_set(err, -EINVAL, "blocking signals failed");
	r = vcpu_signals_init();
	if (r)
		return err_set(err, r, "installing the vCPU kick handler: %s", strerror(-r));

	if (event_loop_add(&vm->loop, &vm->exit_ev, EPOLLIN) ||
	    event_loop_add(&vm->loop, &vm->rx_room_ev, EPOLLIN))
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));

	vm->stdin_ev = (struct event_handler){ -1, vm_on_stdin };
	if (cfg->serial == SERIAL_STDIO) {
		vm->stdin_ev.fd = STDIN_FILENO;
		/* Regular files and /dev/null cannot be polled; they give no input. */
		vm->stdin_watched = event_loop_add(&vm->loop, &vm->stdin_ev, EPOLLIN) == 0;
		if (!vm->stdin_watched)
			vm->stdin_ev.fd = -1;
	}
	return 0;
}

/* The registry owns the device first, so that a failure in between frees it with the VM. */
static int vm_add_virtio(struct vm *vm, struct virtio_dev *vdev, struct err *err)
{
	int r = vm_add_device(vm, virtio_device(vdev), err);

	return r ? r : virtio_slot_add(vm, vdev, err);
}

/* Virtio devices come before the kernel: they add to its command line. */
static int vm_add_virtio_devices(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	int r = 0;

	for (unsigned int i = 0; !r && i < cfg->nr_drives; i++) {
		struct virtio_blk *blk = virtio_blk_create(&cfg->drives[i], &vm->mem, err);

		r = blk ? vm_add_virtio(vm, virtio_blk_dev(blk), err)
			: (err->code ? err->code : -ENOMEM);
	}
	for (unsigned int i = 0; !r && i < cfg->nr_nets; i++) {
		struct virtio_net *net = virtio_net_create(&cfg->nets[i], &vm->mem, err);

		r = net ? vm_add_virtio(vm, virtio_net_dev(net), err)
			: (err->code ? err->code : -ENOMEM);
	}
	if (!r && cfg->has_vsock) {
		struct virtio_vsock *vsock = virtio_vsock_create(&cfg->vsock, &vm->mem, err);

		r = vsock ? vm_add_virtio(vm, virtio_vsock_dev(vsock), err)
			  : (err->code ? err->code : -ENOMEM);
	}
	if (!r && cfg->rng) {
		struct virtio_rng *rng = virtio_rng_create(&vm->mem);

		r = rng ? vm_add_virtio(vm, virtio_rng_dev(rng), err)
			: err_set(err, -ENOMEM, "out of memory");
	}
	return r;
}

static int vm_create_vcpus(struct vm *vm, const struct boot_entry *entry, struct err *err)
{
	int r;

	vm->vcpus = calloc(vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return err_set(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vm->vcpus[i].fd = -1;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_create(&vm->vcpus[i], vm, i, err);
		if (r)
			return r;
	}
	/* Application processors wait for INIT-SIPI from the guest. */
	return entry ? vcpu_set_boot_state(&vm->vcpus[0], entry, err) : 0;
}

void vm_init(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	vm->fd = -1;
	vm->serial_out_fd = -1;
	vm->kvm.fd = -1;
	vm->mem.memfd = -1;
	vm->loop.epfd = -1;
	vm->exit_ev.fd = vm->stdin_ev.fd = vm->rx_room_ev.fd = -1;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_create_opts *opts,
	      struct err *err)
{
	const char *dev = getenv(KVM_DEVICE_ENV);
	struct boot_entry entry;
	int r;

	vm_init(vm);
	vm->seccomp_level = opts->seccomp_level;
	vm->nr_vcpus = cfg->nr_vcpus;
	vm->boot_timer.start_ns = opts->start_ns;
	vm->exit_hook = (struct machine_exit){ vm_exit_hook, vm };

	r = config_check_host(cfg, err);
	if (r)
		return r;
	r = kvm_open(&vm->kvm, dev && *dev ? dev : KVM_DEVICE_DEFAULT, err);
	if (r)
		return r;
	if (cfg->nr_vcpus > vm->kvm.max_vcpus)
		return err_set(err, -EINVAL, "--vcpus %u is more than this host's KVM allows (%u)",
			       cfg->nr_vcpus, vm->kvm.max_vcpus);
	if (opts->mem_file)
		r = gm_map_file(&vm->mem, cfg->memory_mib << 20, opts->mem_file, err);
	else
		r = gm_alloc(&vm->mem, cfg->memory_mib << 20, cfg->mem_backend, err);
	if (r)
		return r;
	r = vm_create_kvm_vm(vm, err);
	if (r)
		return r;
	r = vm_setup_events(vm, cfg, err);
	if (r)
		return r;
	vm->cmdline = strdup(cfg->cmdline);
	if (!vm->cmdline)
		return err_set(err, -ENOMEM, "out of memory");
	r = vm_add_virtio_devices(vm, cfg, err);
	if (r)
		return r;
	/* A snapshot's memory already holds the kernel and the tables; a migration's will. */
	if (!opts->mem_file && !opts->incoming) {
		r = vm_load_kernel(vm, cfg, &entry, err);
		if (r)
			return r;
		r = mptable_write(&vm->mem, vm->nr_vcpus, err);
		if (r)
			return r;
	}
	r = vm_create_vcpus(vm, opts->mem_file || opts->incoming ? NULL : &entry, err);
	if (r)
		return r;
	r = serial_coalesce_init(&vm->coalesce, vm, err);
	if (!r)
		r = serial_coalesce_start(&vm->coalesce, vm->vcpus[0].run, err);
	if (r)
		return r;
	/* Last, so that a VM that cannot be built leaves no serial file behind. */
	return vm_add_devices(vm, cfg, err);
}

/* The process's peak RSS (VmHWM), which unlike ru_maxrss starts afresh at exec. */
static long vm_peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* For benchmarks: how much of the process is guest RAM the guest touched. */
static void vm_log_memory(const struct vm *vm)
{
	size_t pages = vm->mem.size / 4096, resident = 0;
	unsigned char *vec = malloc(pages);

	if (!vec || mincore(vm->mem.base, vm->mem.size, vec) < 0) {
		free(vec);
		return;
	}
	for (size_t i = 0; i < pages; i++)
		resident += vec[i] & 1;
	free(vec);
	log_debug("memory: guest RAM resident %zu KiB, process peak RSS %ld KiB", resident * 4,
		  vm_peak_rss_kib());
}

int vm_start(struct vm *vm, bool paused, struct err *err)
{
	__atomic_store_n(&vm->pause_requested, paused, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int r = vcpu_start(&vm->vcpus[i], err);

		if (r)
			return r;
	}
	return 0;
}

int vm_stop(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(&vm->vcpus[i]);
	serial_coalesce_drain(&vm->coalesce);
	/* The guest is done: its last words go out now, not when the process ends. */
	if (vm->console)
		console_flush(vm->console);
	if (log_debug_enabled())
		vm_log_memory(vm);
	return vm->exit_code;
}

/* Far above the microseconds a pause takes: only a vCPU stuck in the VMM gets here. */
#define VM_PAUSE_TIMEOUT_MS 2000

int vm_pause(struct vm *vm, struct err *err)
{
	struct timespec deadline;
	int r = 0;

	__atomic_store_n(&vm->pause_requested, true, __ATOMIC_SEQ_CST);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += VM_PAUSE_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&vm->run_lock);
	while (vm->nr_parked < vm->nr_alive && !vm_exiting(vm) && r == 0)
		r = pthread_cond_timedwait(&vm->run_cond, &vm->run_lock, &deadline);
	pthread_mutex_unlock(&vm->run_lock);
	if (vm_exiting(vm))
		return err_set(err, -ESHUTDOWN, "the VM stopped while pausing: %s",
			       vm->exit_reason);
	if (r)
		return err_set(err, -ETIMEDOUT, "vCPUs did not stop within %d ms",
			       VM_PAUSE_TIMEOUT_MS);
	/* Logged by the registry; a device that could not finish keeps its requests. */
	registry_pause(&vm->devices);
	return 0;
}

void vm_resume(struct vm *vm)
{
	registry_resume(&vm->devices);
	pthread_mutex_lock(&vm->run_lock);
	__atomic_store_n(&vm->pause_requested, false, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Releasing a VM with an in-kernel irqchip and PIT waits for several SRCU
 * grace periods in the kernel: 16-24 ms measured on this project's hosts,
 * far longer than the boot. Nothing anyone waits for depends on it, so a
 * short-lived child holds the last reference and drops it while the VMM
 * exits. The child closes stdio first so that readers see EOF at once, and
 * SIGCHLD is ignored so that it never lingers as a zombie.
 */
static void vm_release_fd(int fd)
{
	pid_t pid;

	signal(SIGCHLD, SIG_IGN);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i <= STDERR_FILENO; i++)
			close(i);
		close(fd);
		_exit(0);
	}
	close(fd);
}

void vm_destroy(struct vm *vm)
{
	/* The ring lives in the vCPUs' run areas; the replay needs the serial port. */
	if (vm->coalesce.vm)
		serial_coalesce_fini(&vm->coalesce);
	if (vm->vcpus) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			vcpu_destroy(&vm->vcpus[i]);
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	/* Before the UART and the loop it reads on; after the last replayed byte. */
	console_close(vm->console);
	vm->console = NULL;
	registry_destroy(&vm->devices);
	vm->nr_virtio = 0;
	free(vm->cmdline);
	vm->cmdline = NULL;
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	close_fd(&vm->serial_out_fd);
	close_fd(&vm->exit_ev.fd);
	close_fd(&vm->rx_room_ev.fd);
	event_loop_fini(&vm->loop);
	gm_free(&vm->mem);
	kvm_close(&vm->kvm);
	if (vm->fd >= 0)
		vm_release_fd(vm->fd);
	vm->fd = -1;
	pthread_cond_destroy(&vm->run_cond);
	pthread_mutex_destroy(&vm->run_lock);
	/* Safe to destroy again, or to create anew. */
	vm_init(vm);
}

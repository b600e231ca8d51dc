# SPDX-License-Identifier: Apache-2.0
"""What kvmlet's benchmarks share: where the binaries are, how each VMM is
started on the firmware, and how results are summarised."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
QEMU_EXIT_OK = 1  # isa-debug-exit turns the guest's status 0 into 1


def paths(build):
    vmm = os.path.join(build, "bin", "kvmlet-vmm")
    fw = os.path.join(build, "firmware", "kvmlet-testguest.elf")
    for f in (vmm, fw):
        if not os.path.exists(f):
            sys.exit(f"{os.path.basename(sys.argv[0])}: {f} is missing; run 'make build' first")
    return vmm, fw


def kvmlet_cmd(vmm, fw, memory, cmdline, extra=()):
    return [vmm, "--kernel", fw, "--memory", str(memory), "--cmdline", cmdline, *extra]


def qemu_cmd(fw, memory, cmdline, extra=()):
    """QEMU microvm on KVM with modern virtio-mmio and the same debug-exit port."""
    return ["qemu-system-x86_64", "-M", "microvm", "-enable-kvm", "-m", str(memory),
            "-smp", "1", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-global", "virtio-mmio.force-legacy=false",
            *extra, "-kernel", fw, "-append", cmdline]


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def ratio(a, b):
    return f"{a / b:.3f}" if a is not None and b else "n/a"


def run(cmd, expect_code, timeout=300, prefix=()):
    p = subprocess.run([*prefix, *cmd], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, errors="replace", timeout=timeout)
    if p.returncode != expect_code:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {cmd[0]} failed (exit {p.returncode}):\n"
                 f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout, p.stderr

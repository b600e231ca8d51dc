#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How kvmlet-vmm ends: signals, guest reset, triple fault, and the serial
port's input and output paths. Synchronisation is on the guest's serial
output, never on sleeps."""
import os
import signal
import subprocess
import tempfile

from harness import FIRMWARE, RUN_TIMEOUT, check, kvm_usable, main, read_until, run_vmm, skip, start_vmm

IDLE = "kvmlet-testguest: idle"


def start(cmdline, *extra):
    return start_vmm(["--kernel", FIRMWARE, "--cmdline", cmdline, *extra])


def stop_with(sig, expect_code):
    p = start(f"kvmlet.end=idle", "--vcpus", "2")
    try:
        read_until(p, IDLE)
        p.send_signal(sig)
        code = p.wait(RUN_TIMEOUT)
        err = p.stderr.read()
    finally:
        p.kill()
        p.wait()
    check(code == expect_code, f"exit code {code}, expected {expect_code}; {err}")
    check(f"received {signal.Signals(sig).name}" in err, f"stderr: {err!r}")


def test_sigterm_stops_cleanly():
    stop_with(signal.SIGTERM, 128 + signal.SIGTERM)


def test_sigint_stops_cleanly():
    stop_with(signal.SIGINT, 128 + signal.SIGINT)


def test_guest_reset_exits_five():
    # Not 0: a guest that panics and reboots (panic=N) has not completed.
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--cmdline", "kvmlet.end=reset"])
    check(code == 6, f"exit code {code}, expected 6; {err}")
    check("reset the machine" in err, f"stderr: {err!r}")


def test_triple_fault_is_named():
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--cmdline", "kvmlet.end=triple-fault"])
    check(code == 4, f"exit code {code}, expected 4; {err}")
    lines = [l for l in err.splitlines() if "error:" in l]
    check(len(lines) == 1 and "triple fault" in lines[0], f"stderr: {err!r}")


def test_serial_input_reaches_guest_without_loss():
    # Several FIFOs' worth, so host input must wait for the guest to drain it.
    text = "".join(chr(ord("a") + i % 26) for i in range(300))
    p = start("kvmlet.test=echo")
    try:
        out, err = p.communicate(text + "\n", timeout=RUN_TIMEOUT)
    finally:
        p.kill()
    check(f"echo: {text}" in out, f"echo line missing or damaged: {out!r} {err!r}")
    check(p.returncode == 0, f"exit code {p.returncode}; {err!r}")


def test_serial_to_file():
    path = os.path.join(tempfile.mkdtemp(prefix="kvmlet-serial-"), "console.log")
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--serial", f"file:{path}"])
    check(code == 0, f"exit code {code}; {err}")
    check(out == "", f"serial output leaked to stdout: {out!r}")
    with open(path) as f:
        check("kvmlet-testguest: PASS" in f.read(), "serial file lacks the guest's output")


def test_memfd_backend():
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--memory-backend", "memfd",
                              "--cmdline", "kvmlet.test=mem"])
    check(code == 0 and "test mem: PASS" in out, f"exit {code}; {out} {err}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

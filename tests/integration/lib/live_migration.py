# SPDX-License-Identifier: Apache-2.0
"""Helpers for the live migration tests (vmm/test_migration*.py): a source
VMM booted with the firmware's counter, a receiving VMM, and waiting for a
migration's verdict through GET /kvmlet/migration."""
import json
import os
import secrets
import time

from apiclient import Vmm, curl
from harness import FIRMWARE, Failure, check

COUNTER = "console=ttyS0 kvmlet.test=counter"
TERMINAL = ("completed", "failed", "cancelled")
EXIT_MIGRATED = 5  # include/kvmlet/exit_codes.h


def token():
    return secrets.token_hex(16)


def ok(vmm, method, path, body=None, status=204):
    got, text = curl(vmm.sock, method, path, body)
    check(got == status, f"{method} {path}: {got} {text}, expected {status}; "
          f"stderr: {vmm.stderr()[-1500:]}")
    return json.loads(text) if text and status == 200 else None


def refused(vmm, method, path, body, *words, status=400):
    got, text = curl(vmm.sock, method, path, body)
    check(got == status, f"{method} {path}: {got} {text}, expected {status}")
    msg = json.loads(text).get("fault_message", "")
    for w in words:
        check(w in msg, f"{method} {path}: {msg!r} does not mention {w!r}")
    return msg


def boot_source(vmm, vcpus=2, mib=128, args="kvmlet.counter_mib=4", drive=None, net=None,
                test=COUNTER):
    """Boots the counter guest (or another test) through the API and waits
    until it counts (or prints its first line)."""
    ok(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE,
                                    "boot_args": f"{test} {args}"})
    ok(vmm, "PUT", "/machine-config", {"vcpu_count": vcpus, "mem_size_mib": mib})
    ok(vmm, "PUT", "/entropy", {})
    if drive:
        ok(vmm, "PUT", "/drives/scratch", {"drive_id": "scratch", "path_on_host": drive,
                                          "is_root_device": False})
    if net:
        ok(vmm, "PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": net,
                                                   "guest_mac": "52:54:00:12:34:58"})
    ok(vmm, "PUT", "/actions", {"action_type": "InstanceStart"})
    if test == COUNTER:
        vmm.counter_advances(3)


def receiver(listen, tok, extra=(), prefix=(), **limits):
    """A fresh VMM told to receive through the API."""
    vmm = Vmm(extra=extra, prefix=prefix)
    body = {"listen": listen, "token": tok}
    body.update(limits)
    ok(vmm, "PUT", "/kvmlet/migration/receive", body)
    return vmm


def progress(vmm):
    return ok(vmm, "GET", "/kvmlet/migration", status=200)


def wait_phase(vmm, phases, timeout=60, cond=None):
    """Polls GET /kvmlet/migration (each poll a round trip) until the phase
    is one of phases (and cond(progress) holds); returns the progress."""
    deadline = time.monotonic() + timeout
    while True:
        p = progress(vmm)
        if p["phase"] in phases and (cond is None or cond(p)):
            return p
        if time.monotonic() > deadline:
            raise Failure(f"migration still {p} after {timeout} s; stderr: "
                          f"{vmm.stderr()[-1500:]}")
        time.sleep(0.02)


def send(src, dest, tok, **opts):
    body = {"destination": dest, "token": tok}
    body.update(opts)
    ok(src, "PUT", "/kvmlet/migration/send", body)


def wait_source_gone(src, timeout=120):
    """The source halts once the target runs the guest: exit code 5."""
    code = src.wait(timeout)
    check(code == EXIT_MIGRATED and "migrated" in src.stderr(),
          f"source exit {code}, expected {EXIT_MIGRATED}: {src.stderr()[-1500:]}")
    m = [l for l in src.stderr().splitlines() if "migrated (downtime" in l]
    return float(m[-1].split("downtime ")[1].split(" ms")[0]) if m else None


def check_continues(src_n, dst, steps=5):
    """The target's first whole counter line follows the source's last
    (none lost, none repeated), and it keeps counting."""
    m = dst.wait_for(r"(?m)^counter (\d+)\n", timeout=60)
    first = int(m.group(1))
    check(first == src_n + 1,
          f"target printed counter {first} first; the source stopped at {src_n}")
    dst.counter_advances(steps)
    check("FAIL" not in dst.stdout(), f"guest check failed: {dst.stdout()[-500:]}")


def still_running(src, steps=3):
    """A failed migration left the source's guest running and intact."""
    check(ok(src, "GET", "/", status=200)["state"] == "Running", "source state")
    src.counter_advances(steps)


def unix_addr(vmm, name="mig.sock"):
    return "unix:" + os.path.join(vmm.dir, name)

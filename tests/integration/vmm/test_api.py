#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The control API end to end with curl --unix-socket: configure, boot,
pause, resume, snapshot, load into a new process and see the firmware's
counter continue; diff snapshots; broken snapshot files refused while the
VMM keeps serving; metrics; the lifecycle refusing calls out of order.
Synchronisation is on the guest's serial output and on API replies."""
import json
import os
import re
import tempfile

import subprocess
import sys

from apiclient import Vmm, curl
from harness import FIRMWARE, NetNS, check, kvm_usable, main, netns_usable, skip

HOST_IP, GUEST_IP = "10.0.13.1", "10.0.13.2"

# A UDP echo server on the host side of the TAP, for the counter's datagrams.
UDP_ECHO = f"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{HOST_IP}", 7777))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
"""

COUNTER = "console=ttyS0 kvmlet.test=counter kvmlet.counter_mib=4"


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


def boot_counter(vmm, vcpus=2, mib=128, extra_machine=None, drive=None):
    # With a disk the guest also writes and reads a block through it every step.
    args = COUNTER + (" kvmlet.counter_blk=1" if drive else "")
    ok(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE, "boot_args": args})
    machine = {"vcpu_count": vcpus, "mem_size_mib": mib}
    machine.update(extra_machine or {})
    ok(vmm, "PUT", "/machine-config", machine)
    check(ok(vmm, "GET", "/machine-config", status=200)["mem_size_mib"] == mib, "machine-config")
    ok(vmm, "PUT", "/entropy", {})
    if drive:
        ok(vmm, "PUT", "/drives/scratch", {"drive_id": "scratch", "path_on_host": drive,
                                          "is_root_device": False})
    ok(vmm, "PUT", "/actions", {"action_type": "InstanceStart"})
    check(ok(vmm, "GET", "/", status=200)["state"] == "Running", "state after InstanceStart")
    vmm.counter_advances(3)


def pause(vmm):
    """Pauses; returns the counter the guest was printing, the one a guest
    restored from this point is past (its first whole line is one more)."""
    ok(vmm, "PATCH", "/vm", {"state": "Paused"})
    check(ok(vmm, "GET", "/", status=200)["state"] == "Paused", "state after pause")
    return vmm.counter_in_progress()


def load(vmm, state, mem, resume=True, **extra):
    body = {"snapshot_path": state,
            "mem_backend": {"backend_type": "File", "backend_path": mem},
            "resume_vm": resume}
    body.update(extra)
    ok(vmm, "PUT", "/snapshot/load", body)


def first_counter(vmm):
    m = vmm.wait_for(r"(?m)^counter (\d+)\n")
    return int(m.group(1))


def test_pause_resume_and_order():
    with Vmm() as vmm:
        refused(vmm, "PATCH", "/vm", {"state": "Paused"}, "Not started")
        refused(vmm, "PUT", "/actions", {"action_type": "InstanceStart"}, "boot-source")
        refused(vmm, "PUT", "/snapshot/create",
                {"snapshot_path": vmm.path("s"), "mem_file_path": vmm.path("m")}, "Not started")
        boot_counter(vmm)
        refused(vmm, "PUT", "/actions", {"action_type": "InstanceStart"}, "Running")
        refused(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE}, "Running")
        refused(vmm, "PUT", "/snapshot/load",
                {"snapshot_path": "x", "mem_file_path": "y"}, "Running")
        refused(vmm, "PUT", "/snapshot/create",
                {"snapshot_path": vmm.path("s"), "mem_file_path": vmm.path("m")}, "Running")
        n = pause(vmm)
        # Paused twice is still paused; the guest stays where it stopped.
        ok(vmm, "PATCH", "/vm", {"state": "Paused"})
        mark = len(vmm.stdout())
        check(ok(vmm, "GET", "/", status=200)["state"] == "Paused", "still paused")
        ok(vmm, "PATCH", "/vm", {"state": "Resumed"})
        m = vmm.wait_for(r"(?m)^counter (\d+)\n", start=mark)
        check(int(m.group(1)) == n + 1, f"resumed at counter {m.group(1)}, paused at {n}")
        vmm.counter_advances(3)
        state = ok(vmm, "GET", "/kvmlet/state", status=200)
        check(state["pauses"] == 1, f"kvmlet state: {state}")
        print(f"pause took {state['last_pause_us']:.0f} us")


def test_full_snapshot_restores_in_new_process():
    with tempfile.TemporaryDirectory(prefix="kvmlet-snap-") as d:
        disk, state, mem = (os.path.join(d, f) for f in ("disk.img", "state", "mem"))
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        with Vmm() as a:
            boot_counter(a, drive=disk)
            n = pause(a)
            ok(a, "PUT", "/snapshot/create", {"snapshot_type": "Full", "snapshot_path": state,
                                              "mem_file_path": mem})
            check(os.path.getsize(mem) == 128 << 20, "memory file size")
            # The snapshot's VM keeps running after it.
            ok(a, "PATCH", "/vm", {"state": "Resumed"})
            a.counter_advances(2)
        # The source is gone (it shared the disk); the restored guest goes on using it.
        with Vmm() as b:
            load(b, state, mem)
            check(ok(b, "GET", "/", status=200)["state"] == "Running", "restored state")
            first = first_counter(b)
            check(first == n + 1, f"restored guest printed counter {first} first, "
                  f"snapshot taken at {n}")
            b.counter_advances(5)
            cfg = ok(b, "GET", "/vm/config", status=200)
            check(cfg["machine-config"]["vcpu_count"] == 2 and cfg["drives"][0]["path_on_host"]
                  == disk and "entropy" in cfg, f"restored configuration: {cfg}")
            refused(b, "PUT", "/snapshot/load", {"snapshot_path": state, "mem_file_path": mem},
                    "Running")


def test_load_paused_then_resume():
    with Vmm() as a:
        boot_counter(a, vcpus=1)
        n = pause(a)
        state, mem = a.path("state"), a.path("mem")
        ok(a, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
        with Vmm() as b:
            load(b, state, mem, resume=False)
            check(ok(b, "GET", "/", status=200)["state"] == "Paused", "loaded paused")
            check("counter" not in b.stdout(), "a paused VM printed")
            ok(b, "PATCH", "/vm", {"state": "Resumed"})
            check(first_counter(b) == n + 1, "resumed after load")


def test_diff_snapshot():
    with tempfile.TemporaryDirectory(prefix="kvmlet-snap-") as d:
        disk, state, mem = (os.path.join(d, f) for f in ("disk.img", "state", "mem"))
        diff_state = os.path.join(d, "diff-state")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        with Vmm() as a:
            boot_counter(a, extra_machine={"track_dirty_pages": True}, drive=disk)
            pause(a)
            ok(a, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
            ok(a, "PATCH", "/vm", {"state": "Resumed"})
            a.counter_advances(5)
            n = pause(a)
            # The diff goes onto the full snapshot's memory file: together they are the
            # VM now, the guest's own writes (KVM's dirty log) and the disk's reads into
            # guest memory (the VMM's bitmap) alike.
            ok(a, "PUT", "/snapshot/create", {"snapshot_type": "Diff",
                                              "snapshot_path": diff_state,
                                              "mem_file_path": mem})
        with Vmm() as b:
            load(b, diff_state, mem)
            first = first_counter(b)
            check(first == n + 1, f"a diff snapshot restores the latest state: first counter "
                  f"{first}, paused at {n}; source ended {a.stdout()[-80:]!r}, restored "
                  f"began {b.stdout()[:80]!r}")
            b.counter_advances(3)


def test_diff_needs_tracking():
    with Vmm() as a:
        boot_counter(a, vcpus=1)
        pause(a)
        refused(a, "PUT", "/snapshot/create", {"snapshot_type": "Diff",
                                               "snapshot_path": a.path("s"),
                                               "mem_file_path": a.path("m")}, "track_dirty_pages")


def corrupt(src, dst, how):
    data = bytearray(open(src, "rb").read())
    if how == "truncate":
        data = data[:len(data) // 2]
    elif how == "flip":
        data[len(data) - 10] ^= 0x40
    elif how == "version":
        data[8] ^= 0x7f
    elif how == "magic":
        data[0:8] = b"NOTASNAP"
    with open(dst, "wb") as f:
        f.write(data)


def test_bad_snapshots_are_refused():
    with Vmm() as a:
        boot_counter(a, vcpus=1)
        pause(a)
        state, mem = a.path("state"), a.path("mem")
        ok(a, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
        short_mem = a.path("short-mem")
        with open(short_mem, "wb") as f:
            f.truncate(64 << 20)
        with Vmm() as b:
            cases = [("truncate", "truncated"), ("flip", "checksum"), ("version", "version"),
                     ("magic", "")]
            for how, word in cases:
                bad = b.path(f"bad-{how}")
                corrupt(state, bad, how)
                msg = refused(b, "PUT", "/snapshot/load",
                              {"snapshot_path": bad, "mem_file_path": mem})
                check(word in msg.lower(), f"{how}: {msg!r} does not mention {word!r}")
                check(ok(b, "GET", "/", status=200)["state"] == "Not started",
                      f"state after a refused load ({how})")
            refused(b, "PUT", "/snapshot/load", {"snapshot_path": b.path("missing"),
                                                 "mem_file_path": mem}, "missing")
            refused(b, "PUT", "/snapshot/load", {"snapshot_path": state,
                                                 "mem_file_path": short_mem}, "bytes")
            refused(b, "PUT", "/snapshot/load", {"snapshot_path": state,
                                                 "mem_backend": {"backend_type": "Uffd",
                                                                 "backend_path": mem}}, "File")
            # After all of that a good load still works.
            load(b, state, mem)
            first_counter(b)
            b.counter_advances(3)
        # The VM that was snapshotted is unharmed, too.
        ok(a, "PATCH", "/vm", {"state": "Resumed"})
        a.counter_advances(3)


def test_metrics():
    with Vmm() as vmm:
        # As in Firecracker, the metrics file is set before the VM starts.
        metrics_file = vmm.path("metrics.json")
        open(metrics_file, "w").close()
        ok(vmm, "PUT", "/metrics", {"metrics_path": metrics_file})
        refused(vmm, "PUT", "/metrics", {"metrics_path": metrics_file}, "already")
        boot_counter(vmm, vcpus=1)
        got, text = curl(vmm.sock, "GET", "/metrics")
        check(got == 200, f"GET /metrics: {got}")
        for name in ("kvmlet_vcpu_exits_total", "kvmlet_vcpu_run_seconds_total",
                     "kvmlet_api_requests_total"):
            check(re.search(rf"(?m)^{name}(\{{[^}}]*\}})? \d", text), f"{name} missing:\n{text}")
        ok(vmm, "PUT", "/actions", {"action_type": "FlushMetrics"})
        lines = open(metrics_file).read().splitlines()
        check(len(lines) == 1, f"metrics file: {lines}")
        doc = json.loads(lines[0])
        check("utc_timestamp_ms" in doc, f"metrics line: {doc}")


def test_guest_reset_ends_the_process():
    with Vmm() as vmm:
        ok(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE,
                                        "boot_args": "console=ttyS0 kvmlet.end=reset"})
        ok(vmm, "PUT", "/actions", {"action_type": "InstanceStart"})
        code = vmm.wait(60)
        check(code == 6, f"exit code {code} after a guest reset, expected 6")
        check("guest reset" in vmm.stderr(), f"stderr: {vmm.stderr()}")


def test_send_ctrl_alt_del_reaches_the_guest():
    with Vmm() as vmm:
        ok(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE,
                                        "boot_args": "console=ttyS0 kvmlet.test=kbd kvmlet.end=reset"})
        refused(vmm, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, "Not started")
        ok(vmm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vmm.wait_for(r"(?m)^kbd: waiting$")
        ok(vmm, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        # The guest sees Ctrl, Alt, then Delete, and reboots as Linux would.
        vmm.wait_for(r"(?m)^kbd: ctrl-alt-del$")
        code = vmm.wait(60)
        check(code == 6 and "guest reset" in vmm.stderr(), f"exit {code}: {vmm.stderr()}")


def test_snapshot_of_a_guest_using_the_network():
    if not netns_usable():
        print("SKIPPED: network namespaces are not available")
        return
    with tempfile.TemporaryDirectory(prefix="kvmlet-snap-") as d, NetNS("snap", HOST_IP) as ns:
        state, mem = os.path.join(d, "state"), os.path.join(d, "mem")
        echo = subprocess.Popen([*ns.prefix, sys.executable, "-c", UDP_ECHO],
                                stdout=subprocess.PIPE, text=True)
        try:
            check(echo.stdout.readline().strip() == "ready", "UDP echo server")
            with Vmm(prefix=ns.prefix) as a:
                ok(a, "PUT", "/boot-source", {
                    "kernel_image_path": FIRMWARE,
                    "boot_args": f"{COUNTER} kvmlet.counter_net=1 kvmlet.ip={GUEST_IP} "
                                 f"kvmlet.peer={HOST_IP}"})
                ok(a, "PUT", "/network-interfaces/eth0", {
                    "iface_id": "eth0", "host_dev_name": ns.tap,
                    "guest_mac": "52:54:00:12:34:57"})
                ok(a, "PUT", "/actions", {"action_type": "InstanceStart"})
                # Every line is a datagram that went out through the TAP and came back.
                a.counter_advances(5)
                n = pause(a)
                ok(a, "PUT", "/snapshot/create", {"snapshot_path": state, "mem_file_path": mem})
            # The TAP is free again: the restored VM opens it and goes on talking.
            with Vmm(prefix=ns.prefix) as b:
                load(b, state, mem)
                check(first_counter(b) == n + 1, "restored on the network")
                b.counter_advances(5)
        finally:
            echo.kill()
            echo.wait()


def test_keep_halted_reports_how_the_guest_ended():
    with Vmm(extra=["--keep-halted"]) as vmm:
        ok(vmm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE,
                                        "boot_args": "console=ttyS0 kvmlet.end=triple-fault"})
        ok(vmm, "PUT", "/actions", {"action_type": "InstanceStart"})
        # The API answers throughout; poll it (each answer is a round trip, not a sleep).
        for _ in range(5000):
            state = ok(vmm, "GET", "/kvmlet/state", status=200)
            if state["state"] == "Halted":
                break
        check(state["state"] == "Halted", f"state: {state}")
        check(state["exit_code"] == 4 and "triple fault" in state["halt_reason"],
              f"halted state: {state}")
        check(ok(vmm, "GET", "/", status=200)["state"] == "Halted", "InstanceInfo state")
        refused(vmm, "PATCH", "/vm", {"state": "Paused"}, "Halted")
        vmm.proc.terminate()
        code = vmm.wait(30)
        check(code == 4, f"exit code {code} after SIGTERM, expected the guest's 4")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable")
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a VM pod needs from the VMM and the firmware: the console written as a
CRI log by the VMM itself (--serial cri:PATH), kubelet's log rotation (rename,
new file, PUT /kvmlet/console/reopen), the guest agent's exec over vsock
(echo, false), Ctrl+Alt+Del and guest-shutdown ending the VM with status 0, a
full disk (RLIMIT_FSIZE) that costs lines but not the VM, and the console
socket (--console-sock) for attach."""
import base64
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time

from apiclient import Vmm, curl_request
from guest_agent_client import Client
from harness import FIRMWARE, Failure, check, kvm_usable, main, run_vmm, skip

PORT = 1024
CRI_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) stdout ([FP]) (.*)$")
BANNER = f"kvmlet-testguest: pod ready (vsock agent on port {PORT})"
OLD_RECORD = "2020-01-01T00:00:00.000000000Z stdout F written before the VM"


def records(path):
    """The CRI records of a log file as (timestamp, tag, content); every
    complete line must be one. A record being appended right now may be cut."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []  # the VMM has not created it yet
    out = []
    for line in text.split("\n")[:-1]:
        m = CRI_LINE.match(line)
        check(m, f"{path}: not a CRI log line: {line!r}")
        out.append(m.groups())
    return out


def contents(path):
    return [c for _, tag, c in records(path)]


def ticks(path):
    return [int(c[5:]) for c in contents(path) if re.fullmatch(r"tick \d+", c)]


def wait_until(what, cond, timeout=30):
    """Polls cond() (a file another process appends to: there is no stdlib
    inotify) until it is true; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure(f"{timeout} s passed waiting for {what}")
        time.sleep(0.02)


def metric(sock, name):
    """A sample's value; None while the VM (and so its console) is not built yet."""
    r = curl_request(sock, "GET", "/metrics")
    m = re.search(rf"^{name} (\d+)$", r.body, re.M)
    return int(m.group(1)) if m else None


def reopen(vm, body=""):
    return curl_request(vm.sock, "PUT", "/kvmlet/console/reopen", body)


def pod_vmm(tmp, cmdline="", extra=(), prefix=()):
    log, uds = os.path.join(tmp, "0.log"), os.path.join(tmp, "v.sock")
    vm = Vmm(["--kernel", FIRMWARE, "--serial", f"cri:{log}", "--vsock", f"cid=3,uds={uds}",
              "--cmdline", f"console=ttyS0 kvmlet.test=pod {cmdline}", *extra], prefix=prefix)
    return vm, log, uds


def exec_builtin(ga, path, args=()):
    pid = ga.call("guest-exec", {"path": path, "arg": list(args),
                                 "capture-output": True})["return"]["pid"]
    st = ga.call("guest-exec-status", {"pid": pid})["return"]
    check(st["exited"], f"{path}: {st}")
    return st["exitcode"], base64.b64decode(st.get("out-data", ""))


def test_cri_log_rotation_exec_ctrl_alt_del():
    tmp = tempfile.mkdtemp(prefix="kvmlet-vmmcri-")
    log = os.path.join(tmp, "0.log")
    # The agent creates the file before the VMM starts: it is kept, not truncated.
    with open(log, "w") as f:
        f.write(OLD_RECORD + "\n")
    vm, log, uds = pod_vmm(tmp, "kvmlet.pod_tick_ms=50")
    try:
        wait_until("the banner in the CRI log", lambda: BANNER in contents(log))
        recs = records(log)
        check(recs[0][2] == "written before the VM", f"the log was truncated: {recs[:2]}")
        check(("F", BANNER) in [(t, c) for _, t, c in recs], f"banner not a full line: {recs}")
        wait_until("tick 3", lambda: 3 in ticks(log))

        # kubelet renames, the agent creates a new file and asks the VMM to reopen.
        os.rename(log, log + ".1")
        open(log, "w").close()
        r = reopen(vm)
        check(r.status == 204, f"reopen: {r}")
        wait_until("ticks in the new file", lambda: len(ticks(log)) >= 3)
        old = ticks(log + ".1")
        size = os.path.getsize(log + ".1")
        last = ticks(log)[-1]
        wait_until("more ticks in the new file", lambda: ticks(log)[-1] >= last + 3)
        check(os.path.getsize(log + ".1") == size, "the old file still grows after reopen")
        both = old + ticks(log)
        check(both == list(range(1, len(both) + 1)), f"ticks lost or repeated: {both}")

        # Hostile or impossible reopens: clear errors, the old file stays in use.
        r = reopen(vm, '{"path": "/etc/passwd"}')
        check(r.status == 400 and "fault_message" in r.json(), f"reopen with a body: {r}")
        os.rename(log, log + ".2")
        os.mkdir(log)
        r = reopen(vm, "{}")
        check(r.status == 500 and "directory" in r.json()["fault_message"].lower(),
              f"reopen onto a directory: {r}")
        n = ticks(log + ".2")[-1]
        wait_until("ticks in the file still open", lambda: ticks(log + ".2")[-1] >= n + 2)
        os.rmdir(log)
        # Absent: the VMM creates it, 0640.
        r = reopen(vm, "{}")
        check(r.status == 204, f"reopen creating the file: {r}")
        mode = stat.S_IMODE(os.stat(log).st_mode)
        check(mode & ~0o640 == 0, f"created with mode {mode:o}")
        wait_until("ticks after the second rotation", lambda: len(ticks(log)) >= 2)
        check(metric(vm.sock, "kvmlet_console_log_reopens_total") == 2, "reopens counted")
        check(metric(vm.sock, "kvmlet_console_log_errors_total") == 0, "no write errors")

        # An exec probe through the guest agent: output and exit codes.
        ga = Client(uds, vsock_port=PORT)
        check(exec_builtin(ga, "echo", ["hello", "pod"]) == (0, b"hello pod\n"), "echo")
        check(exec_builtin(ga, "false")[0] == 1, "false exits 1")
        check(exec_builtin(ga, "/bin/false")[0] == 1, "/bin/false exits 1")
        check(exec_builtin(ga, "/bin/true") == (0, b""), "/bin/true")
        cmds = {c["name"]: c for c in ga.call("guest-info")["return"]["supported_commands"]}
        check(cmds["guest-shutdown"]["success-response"] is False, f"guest-info: {cmds}")
        err = ga.call("guest-exec", {"path": "/bin/sh"})
        check("error" in err, f"an unknown program must fail: {err}")
        ga.close()

        r = curl_request(vm.sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        check(r.status == 204, f"SendCtrlAltDel: {r}")
        code = vm.wait(30)
        check(code == 0, f"exit status {code} after Ctrl+Alt+Del: {vm.stderr()}")
        tail = contents(log)[-3:]
        check(tail == ["kvmlet-testguest: ctrl-alt-del, powering off",
                       tail[1], "kvmlet-testguest: PASS"] and
              tail[1].startswith("test pod: PASS (Ctrl+Alt+Del"), f"last lines: {tail}")
        for p in (log + ".1", log + ".2", log):
            records(p)  # every line of every file is a CRI record
    finally:
        vm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def guest_shutdown(mode, said):
    tmp = tempfile.mkdtemp(prefix="kvmlet-vmmcri-")
    vm, log, uds = pod_vmm(tmp)
    try:
        wait_until("the banner", lambda: BANNER in contents(log))
        ga = Client(uds, vsock_port=PORT)
        err = ga.call("guest-shutdown", {"mode": "explode"})
        check("mode is invalid" in err.get("error", {}).get("desc", ""), f"bad mode: {err}")
        ga.send({"execute": "guest-shutdown", "arguments": {"mode": mode}})
        ga.send("\n")
        code = vm.wait(30)
        # A reboot is a guest reset: 6 (include/kvmlet/exit_codes.h); a power-off 0.
        want = 6 if mode == "reboot" else 0
        check(code == want, f"guest-shutdown {mode}: exit status {code}, expected {want}: "
                            f"{vm.stderr()}")
        check(f"kvmlet-testguest: guest-shutdown, {said}" in contents(log),
              f"guest-shutdown {mode}: {contents(log)}")
        # As qemu-ga: no answer on success, the connection just ends.
        try:
            rest = ga.sock.recv(4096)
        except OSError:
            rest = b""
        check(rest == b"", f"guest-shutdown answered {rest!r}")
    finally:
        vm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_guest_shutdown_powerdown():
    guest_shutdown("powerdown", "powering off")


def test_guest_shutdown_reboot():
    guest_shutdown("reboot", "rebooting")


def test_full_disk_costs_lines_not_the_vm():
    tmp = tempfile.mkdtemp(prefix="kvmlet-vmmcri-")
    # A 1000-byte file limit: writes past it fail with EFBIG (and SIGXFSZ, ignored).
    vm, log, uds = pod_vmm(tmp, "kvmlet.pod_tick_ms=20", prefix=("prlimit", "--fsize=1000", "--"))
    try:
        wait_until("write errors counted",
                   lambda: (metric(vm.sock, "kvmlet_console_log_errors_total") or 0) >= 3)
        check(vm.running(), "the VMM died of a full log")
        check(os.path.getsize(log) <= 1000, "the limit did not apply")
        check(BANNER in contents(log), "the banner is missing")
        warned = vm.stderr().count("lines are lost")
        check(warned == 1, f"the write failure is logged {warned} times: {vm.stderr()}")
        r = curl_request(vm.sock, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        check(r.status == 204, f"SendCtrlAltDel: {r}")
        check(vm.wait(30) == 0, f"exit status: {vm.stderr()}")
    finally:
        vm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def recv_until(s, text, timeout=20):
    data, deadline = b"", time.monotonic() + timeout
    while text not in data:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            chunk = None
        if not chunk or time.monotonic() > deadline:
            raise Failure(f"console client: no {text!r}, got {data!r}")
        data += chunk
    return data


def test_console_socket():
    tmp = tempfile.mkdtemp(prefix="kvmlet-vmmcri-")
    log, cs = os.path.join(tmp, "0.log"), os.path.join(tmp, "console.sock")
    # The echo test reads one line from COM1 and prints it back.
    vm = Vmm(["--kernel", FIRMWARE, "--serial", f"cri:{log}", "--console-sock", cs,
              "--cmdline", "console=ttyS0 kvmlet.test=echo"])
    clients = []
    try:
        def connect():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(cs)
            except OSError:
                s.close()
                return None
            return s
        clients.append(wait_until("the console socket", connect, timeout=10))
        check(stat.S_IMODE(os.stat(cs).st_mode) == 0o600, "console socket not owner-only")
        clients += [connect() for _ in range(3)]
        # A fifth client is one too many: closed at once.
        extra = connect()
        extra.settimeout(10)
        check(extra.recv(1) == b"", "a fifth console client was served")
        extra.close()
        clients[1].sendall(b"hello console\r\n")
        for s in clients:
            got = recv_until(s, b"echo: hello console\n")
            check(b"stdout" not in got, f"console clients get raw output, not CRI: {got!r}")
        check(vm.wait(30) == 0, f"exit status: {vm.stderr()}")
        check("echo: hello console" in contents(log), f"not in the CRI log: {contents(log)}")
        check(not os.path.exists(cs), "the console socket was left behind")
    finally:
        for s in clients:
            if s:
                s.close()
        vm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_config_file_with_cri_serial():
    """A --config-file run takes --serial cri: and --console-sock like any other."""
    tmp = tempfile.mkdtemp(prefix="kvmlet-vmmcri-")
    cfg, log = os.path.join(tmp, "vm.json"), os.path.join(tmp, "0.log")
    try:
        with open(cfg, "w") as f:
            json.dump({"boot-source": {"kernel_image_path": FIRMWARE,
                                       "boot_args": "console=ttyS0 kvmlet.test=smp"},
                       "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}}, f)
        code, out, err = run_vmm(["--config-file", cfg, "--serial", f"cri:{log}",
                                  "--console-sock", os.path.join(tmp, "c.sock")])
        check(code == 0, f"exit {code}: {err}")
        check(out == "", f"console output on stdout too: {out!r}")
        lines = contents(log)
        check("test smp: PASS (2/2 CPUs up)" in lines and lines[-1] == "kvmlet-testguest: PASS",
              f"CRI log: {lines}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_cri_path():
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--serial", "cri:/nonexistent-dir/0.log"])
    check(code == 2 and "CRI log '/nonexistent-dir/0.log'" in err, f"{code}: {err}")
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--serial", "cri:"])
    check(code == 2 and "cri:PATH" in err, f"{code}: {err}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable")
    main([test_cri_log_rotation_exec_ctrl_alt_del, test_guest_shutdown_powerdown,
          test_guest_shutdown_reboot, test_full_disk_costs_lines_not_the_vm,
          test_console_socket, test_config_file_with_cri_serial, test_bad_cri_path])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The whole vsock chain on real KVM: host client -> the VMM's Unix socket ->
virtio-vsock device -> the firmware's guest-agent responder -> back. Also
guest-initiated connections, RST for closed ports, many connections at once,
and flow control under a slow host reader."""
import base64
import json
import os
import socket
import subprocess
import tempfile
import threading

from harness import (FIRMWARE, RUN_TIMEOUT, VMM, check, kvm_usable, main, read_until, skip,
                     start_vmm)

CLIENT = os.path.join(os.path.dirname(VMM), "kvmlet-ga-client")
AGENT_PORT = 1024


def vsock_connect(uds, port, timeout=10):
    """Firecracker's hybrid vsock handshake; returns (socket, first line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(uds)
    s.sendall(b"CONNECT %d\n" % port)
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        line += chunk
    return s, line.decode(errors="replace")


def request(f, s, execute, **arguments):
    msg = {"execute": execute}
    if arguments:
        msg["arguments"] = arguments
    s.sendall(json.dumps(msg).encode() + b"\n")
    reply = f.readline()
    check(reply, f"no reply to {execute}")
    return json.loads(reply)


def agent_session(uds, n, errors):
    try:
        s, ok = vsock_connect(uds, AGENT_PORT)
        check(ok.startswith("OK "), f"connection {n}: handshake answered {ok!r}")
        f = s.makefile("rb")
        check(request(f, s, "guest-sync", id=1000 + n) == {"return": 1000 + n}, "guest-sync")
        check(request(f, s, "guest-ping") == {"return": {}}, "guest-ping")
        info = request(f, s, "guest-info")["return"]
        names = {c["name"] for c in info["supported_commands"]}
        check({"guest-sync", "guest-ping", "guest-exec"} <= names, f"guest-info: {names}")
        check(isinstance(request(f, s, "guest-get-time")["return"], int), "guest-get-time")
        pid = request(f, s, "guest-exec", path="echo", arg=["conn", str(n)],
                      **{"capture-output": True})["return"]["pid"]
        st = request(f, s, "guest-exec-status", pid=pid)["return"]
        check(st["exited"] and st["exitcode"] == 0, f"exec status {st}")
        check(base64.b64decode(st["out-data"]) == f"conn {n}\n".encode(), f"echo {st}")
        err = request(f, s, "no-such-command")
        check(err.get("error", {}).get("class") == "CommandNotFound", f"unknown: {err}")
        s.close()
    except Exception as e:  # collected and reported by the main thread
        errors.append(f"session {n}: {e}")


def test_agent_over_vsock_many_connections():
    tmp = tempfile.mkdtemp(prefix="kvmlet-vsock-")
    uds = os.path.join(tmp, "v.sock")
    p = start_vmm(["--kernel", FIRMWARE, "--vsock", f"cid=3,uds={uds}",
                   "--cmdline", "kvmlet.test=vsock-agent"])
    try:
        read_until(p, "vsock: listening on port")
        errors = []
        threads = [threading.Thread(target=agent_session, args=(uds, n, errors))
                   for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RUN_TIMEOUT)
        check(not errors, "\n".join(errors))
        # The host client CLI over the same path.
        if os.path.exists(CLIENT):
            r = subprocess.run([CLIENT, f"vsock-uds:{uds}:{AGENT_PORT}", "exec", "echo", "hi"],
                               capture_output=True, text=True, timeout=RUN_TIMEOUT)
            check(r.returncode == 0 and r.stdout == "hi\n", f"kvmlet-ga-client: {r}")
        # A port nobody listens on: the device resets the connection, no OK.
        s, line = vsock_connect(uds, 4444)
        check(not line.startswith("OK"), f"closed port answered {line!r}")
        s.close()
        s, ok = vsock_connect(uds, AGENT_PORT)
        s.sendall(b"quit\n")
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    finally:
        p.kill()
        p.wait()
    check("test vsock-agent: PASS" in out and p.returncode == 0,
          f"exit {p.returncode}\n{out}\n{err}")
    check(not os.path.exists(uds), "the VMM left its vsock socket behind")


def guest_connect(listen, expect):
    tmp = tempfile.mkdtemp(prefix="kvmlet-vsock-")
    uds = os.path.join(tmp, "v.sock")
    srv = None
    if listen:
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(f"{uds}_1234")
        srv.listen(1)

        def answer():
            c, _ = srv.accept()
            c.makefile("rb").readline()
            c.sendall(b"hello from the host\n")
            c.close()
        threading.Thread(target=answer, daemon=True).start()
    args = "kvmlet.test=vsock-connect" + ("" if listen else " kvmlet.vsock_expect=refused")
    p = subprocess.run([VMM, "--kernel", FIRMWARE, "--vsock", f"cid=3,uds={uds}",
                        "--cmdline", args], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    check(expect in p.stdout and p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}")


def test_guest_initiated_connection():
    guest_connect(True, "vsock: host said hello from the host")


def test_guest_connection_to_closed_port_is_refused():
    guest_connect(False, "vsock: connection refused")


def test_slow_reader_gets_back_pressure():
    """The guest streams 64 MiB; the host reads slowly at first. Everything
    must arrive, and the VMM must not buffer what the host has not read."""
    tmp = tempfile.mkdtemp(prefix="kvmlet-vsock-")
    uds = os.path.join(tmp, "v.sock")
    total = 64 << 20
    p = start_vmm(["--kernel", FIRMWARE, "--vsock", f"cid=3,uds={uds}", "--cmdline",
                   f"kvmlet.test=vsock-stream kvmlet.vsock_port=5000 kvmlet.vsock_bytes={total}"])
    try:
        read_until(p, "vsock: listening on port")
        s, ok = vsock_connect(uds, 5000, timeout=RUN_TIMEOUT)
        check(ok.startswith("OK "), f"handshake answered {ok!r}")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        got = 0
        slow = 0
        while True:
            # The first megabyte in small sips, each a blocking read: the guest
            # can only run ahead by what the device and socket buffer hold.
            chunk = s.recv(512 if slow < (1 << 20) else 1 << 20)
            if not chunk:
                break
            got += len(chunk)
            slow += len(chunk)
        out, err = p.communicate(timeout=RUN_TIMEOUT)
    finally:
        p.kill()
        p.wait()
    check(got == total, f"received {got} of {total} bytes\n{out}\n{err}")
    check(p.returncode == 0, f"exit {p.returncode}: {err}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

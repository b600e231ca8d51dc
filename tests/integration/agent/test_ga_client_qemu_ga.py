#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kvmlet-ga-client against Debian's real qemu-ga listening on a Unix socket:
the client must speak the protocol the reference agent speaks.

Usage: ga_client_qemu_ga.py PATH-TO-kvmlet-ga-client"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import check, main, skip

CLIENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-ga-client"
QEMU_GA = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
TMP = tempfile.mkdtemp(prefix="kvmlet-ga-")
SOCK = os.path.join(TMP, "qga.sock")
ADDR = f"unix:{SOCK}"


def client(*args, timeout_ms=10000):
    p = subprocess.run([CLIENT, "--timeout", str(timeout_ms), *args], capture_output=True,
                       timeout=60, text=True, errors="replace")
    return p.returncode, p.stdout, p.stderr


def one_error_line(err, words):
    lines = err.strip().splitlines()
    check(len(lines) == 1, f"expected one error line, got {lines!r}")
    check(lines[0].startswith("kvmlet-ga-client: error: "), f"not an error line: {lines[0]!r}")
    for w in words:
        check(w in lines[0], f"{w!r} not in {lines[0]!r}")


def test_ping():
    code, out, err = client(ADDR, "ping")
    check(code == 0 and out == "ok\n", f"ping: {code} {out!r} {err!r}")
    # Several clients in a row on the same agent: each resynchronises.
    for _ in range(3):
        check(client(ADDR, "ping")[0] == 0, "repeated ping failed")


def test_info():
    code, out, err = client(ADDR, "info")
    check(code == 0, f"info: {code} {err!r}")
    lines = out.splitlines()
    check(lines[0].startswith("version "), f"no version line: {lines[:1]!r}")
    for cmd in ("guest-ping", "guest-exec", "guest-exec-status", "guest-sync-delimited"):
        check(cmd in lines, f"{cmd} not listed: {lines!r}")


def test_exec():
    code, out, err = client(ADDR, "exec", "/bin/sh", "-c", "echo out; echo err >&2; exit 5")
    check(code == 5, f"exit code {code}, expected 5; {err!r}")
    check(out == "out\n", f"stdout {out!r}")
    check(err == "err\n", f"stderr {err!r}")

    code, out, err = client(ADDR, "exec", "/bin/cat", "--input-data", "hello\nworld")
    check(code == 0 and out == "hello\nworld", f"cat: {code} {out!r} {err!r}")

    # Binary output and an argument that looks like an option, after --.
    code, out, err = client(ADDR, "exec", "--", "/usr/bin/printf", "--input-data")
    check(code == 0 and out == "--input-data", f"printf: {code} {out!r} {err!r}")

    code, out, err = client(ADDR, "exec", "/bin/sh", "-c", "kill -9 $$")
    check(code == 128 + 9, f"killed process: exit code {code}, expected 137")


def test_exec_timeout():
    start = time.monotonic()
    code, out, err = client(ADDR, "exec", "/bin/sleep", "3", timeout_ms=500)
    check(code == 1, f"exit code {code}, expected 1")
    one_error_line(err, ["did not finish", "500 ms"])
    check(time.monotonic() - start < 2.5, "the timeout did not bound the run")
    # The agent is still usable afterwards.
    check(client(ADDR, "ping")[0] == 0, "ping after a timed-out exec failed")


def test_raw():
    code, out, err = client(ADDR, "raw", '{"execute": "guest-ping"}')
    check(code == 0 and out == "{}\n", f"raw ping: {code} {out!r} {err!r}")
    code, out, err = client(ADDR, "raw",
                            '{"execute": "guest-exec-status", "arguments": {"pid": 1}}')
    check(code == 1, f"exec-status of a pid never started: {code} {out!r}")
    one_error_line(err, ["guest-exec-status"])
    code, out, err = client(ADDR, "raw", '{"execute": "guest-no-such-command"}')
    check(code == 1, f"unknown command: exit code {code}")
    one_error_line(err, ["CommandNotFound"])


def test_usage_and_connection_errors():
    for args, words in (
        ([], ["ADDRESS"]),
        ([ADDR], ["ADDRESS"]),
        ([ADDR, "frobnicate"], ["frobnicate"]),
        ([ADDR, "exec"], ["PATH"]),
        ([ADDR, "raw", "[1]"], ["execute"]),
        ([ADDR, "ping", "extra"], ["ping"]),
        (["--timeout", "0", ADDR, "ping"], ["--timeout"]),
        ([f"unix:{TMP}/missing.sock", "ping"], ["missing.sock"]),
        # qemu-ga is no hybrid-vsock socket: the CONNECT handshake must fail cleanly.
        ([f"vsock-uds:{SOCK}", "ping"], ["CONNECT"]),
    ):
        code, out, err = client(*args)
        check(code == 2, f"{args}: exit code {code}, expected 2; {err!r}")
        one_error_line(err, words)
    # qemu-ga exits when a client leaves unread data behind; the client drains its socket.
    check(client(ADDR, "ping")[0] == 0, "qemu-ga did not survive the failed handshake")


def start_agent():
    agent = subprocess.Popen([QEMU_GA, "--method", "unix-listen", "--path", SOCK,
                              "--statedir", TMP, "--pidfile", os.path.join(TMP, "qga.pid")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(SOCK):
        if agent.poll() is not None or time.monotonic() > deadline:
            agent.kill()
            skip(f"qemu-ga did not start: {agent.stderr.read().strip()}")
        time.sleep(0.02)
    return agent


if __name__ == "__main__":
    if not os.access(QEMU_GA, os.X_OK):
        skip("qemu-ga is not installed (apt-get install qemu-guest-agent)")
    if not os.access(CLIENT, os.X_OK):
        skip(f"{CLIENT} is not built")
    agent = start_agent()
    try:
        main([test_ping, test_info, test_exec, test_exec_timeout, test_raw,
              test_usage_and_connection_errors])
    finally:
        agent.terminate()
        agent.wait(timeout=10)
        shutil.rmtree(TMP, ignore_errors=True)

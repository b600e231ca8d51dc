# SPDX-License-Identifier: Apache-2.0
"""kvmlet-guest-agent end to end: a real agent process on a Unix socket in a
temporary directory, real child processes, real files, hostile clients.

usage: test_guest_agent.py AGENT_BINARY
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from harness import Failure, check
from guest_agent_client import Client, start_agent, wait_socket

ALL_COMMANDS = {
    "guest-sync-delimited", "guest-sync", "guest-ping", "guest-info", "guest-get-time",
    "guest-get-osinfo", "guest-get-host-name", "guest-get-timezone", "guest-get-users",
    "guest-network-get-interfaces", "guest-get-fsinfo", "guest-fsfreeze-status",
    "guest-fsfreeze-freeze", "guest-fsfreeze-thaw", "guest-shutdown", "guest-exec",
    "guest-exec-status", "guest-file-open", "guest-file-close", "guest-file-read",
    "guest-file-write", "guest-file-seek", "guest-file-flush",
}
CAP = 16 << 20  # per-stream guest-exec output cap, as QGA's


def b64(data):
    return base64.b64encode(data).decode()


def ok(reply, what):
    check("return" in reply, f"{what}: expected a return, got {reply}")
    return reply["return"]


def err(reply, what, cls="GenericError", contains=""):
    check("error" in reply, f"{what}: expected an error, got {str(reply)[:300]}")
    e = reply["error"]
    check(e.get("class") == cls, f"{what}: error class {e.get('class')}, wanted {cls}")
    check(contains in e.get("desc", ""), f"{what}: {e.get('desc')!r} lacks {contains!r}")
    return e


def exec_wait(c, args, timeout=30):
    pid = ok(c.call("guest-exec", args), f"guest-exec {args}")["pid"]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = ok(c.call("guest-exec-status", {"pid": pid}), "guest-exec-status")
        if st["exited"]:
            return st
        time.sleep(0.02)
    raise Failure(f"process {args} did not finish")


def test_basics(c):
    check(ok(c.call("guest-ping"), "ping") == {}, "guest-ping returns {}")
    check(ok(c.call("guest-sync", {"id": 4242}), "sync") == 4242, "guest-sync echoes id")
    c.send('{"execute":"guest-sync-delimited","arguments":{"id":77}}\n')
    raw = c.line()
    check(raw.startswith(b"\xff"), f"guest-sync-delimited reply lacks 0xFF: {raw!r}")
    check(json.loads(raw[1:]) == {"return": 77}, f"bad delimited reply {raw!r}")
    r = c.call("guest-ping", id="req-1")
    check(r == {"return": {}, "id": "req-1"}, f"id not echoed: {r}")
    # no newline after the request: the closing brace ends it, as with qemu-ga
    c.send('{"execute":"guest-sync","arguments":{"id":5}}')
    check(c.reply() == {"return": 5}, "request without newline")
    # a 0xFF byte drops a partial request (how clients resynchronise)
    c.send(b'{"execute":"guest-pi\xff{"execute":"guest-sync","arguments":{"id":6}}\n')
    check(c.reply() == {"return": 6}, "0xFF did not reset the parser")
    info = ok(c.call("guest-info"), "guest-info")
    check(isinstance(info["version"], str), "version is a string")
    names = {x["name"] for x in info["supported_commands"]}
    check(names == ALL_COMMANDS, f"supported_commands differs: {names ^ ALL_COMMANDS}")
    for x in info["supported_commands"]:
        check(x["enabled"] is True, f"{x['name']} disabled")
        check(x["success-response"] is (x["name"] != "guest-shutdown"), f"{x}")


def test_info(c):
    osi = ok(c.call("guest-get-osinfo"), "osinfo")
    u = os.uname()
    check(osi["kernel-release"] == u.release and osi["machine"] == u.machine, f"uname: {osi}")
    if os.path.exists("/etc/os-release"):
        rel = dict(line.rstrip("\n").split("=", 1) for line in open("/etc/os-release")
                   if "=" in line)
        check(osi.get("id") == rel.get("ID", "").strip('"'), f"os-release ID: {osi}")
    hn = ok(c.call("guest-get-host-name"), "host-name")["host-name"]
    check(hn == socket.gethostname(), f"host-name {hn}")
    t = ok(c.call("guest-get-time"), "time")
    check(isinstance(t, int) and abs(t - time.time_ns()) < 5 * 10**9, f"time {t}")
    tz = ok(c.call("guest-get-timezone"), "timezone")
    check(isinstance(tz["offset"], int), f"timezone {tz}")
    users = ok(c.call("guest-get-users"), "users")
    check(isinstance(users, list), "users is a list")
    for x in users:
        check(isinstance(x["user"], str) and isinstance(x["login-time"], (int, float)), f"{x}")
    ifs = ok(c.call("guest-network-get-interfaces"), "interfaces")
    lo = [i for i in ifs if i["name"] == "lo"]
    check(lo, f"no lo in {ifs}")
    check(lo[0]["hardware-address"] == "00:00:00:00:00:00", f"lo mac {lo[0]}")
    check({"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}
          in lo[0].get("ip-addresses", []), f"lo addresses {lo[0]}")
    check(isinstance(lo[0]["statistics"]["rx-bytes"], int), "lo statistics")
    for i in ifs:
        if i["name"] != "lo" and "hardware-address" in i:
            check(len(i["hardware-address"]) in (17, 0) or ":" in i["hardware-address"],
                  f"mac {i}")
    fs = ok(c.call("guest-get-fsinfo"), "fsinfo")
    if os.major(os.stat("/").st_dev) != 0:
        root = [f for f in fs if f["mountpoint"] == "/"]
        check(root, f"/ not in fsinfo {fs}")
        sv = os.statvfs("/")
        check(abs(root[0]["used-bytes"] - (sv.f_blocks - sv.f_bfree) * sv.f_frsize) < 1 << 30,
              f"used-bytes {root[0]}")
        check(isinstance(root[0]["disk"], list), "disk list")
    check(all(os.major(os.stat(f["mountpoint"]).st_dev) != 0 for f in fs
              if os.path.exists(f["mountpoint"])), "fsinfo lists a virtual file system")
    check(ok(c.call("guest-fsfreeze-status"), "fsfreeze-status") == "thawed", "thawed")
    # Freezing this host's disks would hang the test machine; thaw of thawed is safe.
    check(ok(c.call("guest-fsfreeze-thaw"), "thaw") == 0, "thaw count 0")


def test_exec(c, tmp):
    st = exec_wait(c, {"path": "/bin/echo", "arg": ["hello", "world"], "capture-output": True})
    check(st["exitcode"] == 0 and base64.b64decode(st["out-data"]) == b"hello world\n"
          and st["out-truncated"] is False and "err-data" not in st, f"echo: {st}")
    data = os.urandom(300000)  # more than a pipe holds: stdin is fed while output drains
    st = exec_wait(c, {"path": "/bin/cat", "input-data": b64(data), "capture-output": True})
    check(base64.b64decode(st["out-data"]) == data, "cat did not return its stdin")
    st = exec_wait(c, {"path": "/bin/sh", "arg": ["-c", "echo e >&2; exit 7"],
                       "capture-output": True})
    check(st["exitcode"] == 7 and base64.b64decode(st["err-data"]) == b"e\n", f"exit 7: {st}")
    st = exec_wait(c, {"path": "sh", "arg": ["-c", "kill -TERM $$"]})
    check(st.get("signal") == 15 and "exitcode" not in st and "out-data" not in st,
          f"signal: {st}")
    st = exec_wait(c, {"path": "/usr/bin/env", "env": ["KVMLET_X=1"], "capture-output": True})
    check(base64.b64decode(st["out-data"]) == b"KVMLET_X=1\n", f"env: {st}")
    st = exec_wait(c, {"path": "/bin/sh", "arg": ["-c", "echo a; echo b >&2"],
                       "capture-output": "merged"})
    check(base64.b64decode(st["out-data"]) == b"a\nb\n" and "err-data" not in st,
          f"merged: {st}")
    err(c.call("guest-exec", {"path": "/nonexistent/binary"}), "missing binary",
        contains="No such file or directory")
    err(c.call("guest-exec", {"path": f"{tmp}"}), "directory", contains="Permission denied")
    err(c.call("guest-exec-status", {"pid": 0x7ffffff0}), "unknown pid", contains="'pid'")
    # status is reported once, then the process is forgotten (as QGA)
    pid = ok(c.call("guest-exec", {"path": "/bin/true"}), "true")["pid"]
    while not ok(c.call("guest-exec-status", {"pid": pid}), "status")["exited"]:
        time.sleep(0.02)
    err(c.call("guest-exec-status", {"pid": pid}), "second status", contains="'pid'")

    # Over the cap: exactly 16 MiB kept, the rest drained and flagged.
    st = exec_wait(c, {"path": "/bin/sh", "arg": ["-c", f"head -c {CAP + 12345} /dev/zero"],
                       "capture-output": True}, timeout=120)
    out = base64.b64decode(st["out-data"])
    check(len(out) == CAP and st["out-truncated"] is True and st["exitcode"] == 0,
          f"cap: {len(out)} bytes, {st.get('out-truncated')}")

    # A runaway process (endless output, never exits) does not block the agent.
    runaway = ok(c.call("guest-exec", {"path": "/usr/bin/yes", "capture-output": True}),
                 "yes")["pid"]
    sleeper = ok(c.call("guest-exec", {"path": "/bin/sleep", "arg": ["1000"]}), "sleep")["pid"]
    time.sleep(0.5)
    t0 = time.monotonic()
    for i in range(20):
        check(ok(c.call("guest-sync", {"id": i}), "sync") == i, "sync during runaway")
    check(time.monotonic() - t0 < 5, "agent slow while a process runs away")
    check(ok(c.call("guest-exec-status", {"pid": sleeper}), "sleeper") == {"exited": False},
          "running process reports exited false only")
    for pid in (runaway, sleeper):
        os.kill(pid, signal.SIGKILL)
    st = exec_wait(c, {"path": "/bin/true"})
    for pid in (runaway, sleeper):
        end = time.monotonic() + 30
        while True:
            st = ok(c.call("guest-exec-status", {"pid": pid}), "killed")
            if st["exited"] or time.monotonic() > end:
                break
            time.sleep(0.05)
        check(st.get("signal") == 9, f"killed runaway: {str(st)[:200]}")
        if pid == runaway:
            check(st["out-truncated"] is True, "yes output truncated")


def test_files(c, tmp):
    path = os.path.join(tmp, "f.bin")
    data = os.urandom(10000)
    h = ok(c.call("guest-file-open", {"path": path, "mode": "w+"}), "open")
    check(isinstance(h, int), "handle is an integer")
    w = ok(c.call("guest-file-write", {"handle": h, "buf-b64": b64(data)}), "write")
    check(w == {"count": len(data), "eof": False}, f"write {w}")
    w = ok(c.call("guest-file-write", {"handle": h, "buf-b64": b64(b"xyz"), "count": 2}), "w2")
    check(w["count"] == 2, f"count-limited write {w}")
    s = ok(c.call("guest-file-seek", {"handle": h, "offset": 0, "whence": "set"}), "seek")
    check(s == {"position": 0, "eof": False}, f"seek {s}")
    r = ok(c.call("guest-file-read", {"handle": h, "count": 6000}), "read")
    check(r["count"] == 6000 and base64.b64decode(r["buf-b64"]) == data[:6000]
          and r["eof"] is False, "first read")
    r = ok(c.call("guest-file-read", {"handle": h}), "read rest")
    check(base64.b64decode(r["buf-b64"]) == data[6000:] + b"xy" and r["eof"] is True,
          f"second read {r['count']} {r['eof']}")
    s = ok(c.call("guest-file-seek", {"handle": h, "offset": -2, "whence": 2}), "seek end")
    check(s["position"] == len(data), f"seek end {s}")
    check(ok(c.call("guest-file-flush", {"handle": h}), "flush") == {}, "flush")
    check(ok(c.call("guest-file-close", {"handle": h}), "close") == {}, "close")
    check(open(path, "rb").read() == data + b"xy", "file contents on disk")
    err(c.call("guest-file-read", {"handle": h}), "closed handle", contains=f"'{h}'")
    err(c.call("guest-file-open", {"path": os.path.join(tmp, "missing")}), "missing file",
        contains="No such file or directory")
    err(c.call("guest-file-open", {"path": path, "mode": "rw"}), "bad mode", contains="mode")
    h = ok(c.call("guest-file-open", {"path": path, "mode": "a"}), "append")
    err(c.call("guest-file-write", {"handle": h, "buf-b64": "%%%"}), "bad base64",
        contains="buf-b64")
    err(c.call("guest-file-write", {"handle": h, "buf-b64": "YQ==", "count": 5}), "count",
        contains="count")
    err(c.call("guest-file-seek", {"handle": h, "offset": 0, "whence": "middle"}), "whence",
        contains="whence")
    ok(c.call("guest-file-close", {"handle": h}), "close append")
    # an empty FIFO: the read returns nothing instead of blocking the agent
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    h = ok(c.call("guest-file-open", {"path": fifo, "mode": "r"}), "fifo open")
    r = ok(c.call("guest-file-read", {"handle": h}), "fifo read")
    check(r["count"] == 0, f"fifo read {r}")
    ok(c.call("guest-file-close", {"handle": h}), "fifo close")


def test_bad_input(c):
    c.send("{\"execute\": \"guest-ping\",,}\n")
    err(c.reply(), "malformed JSON", contains="JSON parse error")
    c.send("hello there\n")
    err(c.reply(), "garbage line", contains="JSON parse error")
    c.send(b"\x00\x01{\"a\":\x00}\n")
    err(c.reply(), "binary garbage")
    c.send("[1, 2]\n")
    err(c.reply(), "array", contains="must be a JSON object")
    c.send('{"execute":"guest-ping"} trailing\n')
    ok(c.reply(), "ping before trailing garbage")
    err(c.reply(), "trailing garbage", contains="JSON parse error")
    err(c.call("guest-launch-missiles"), "unknown", "CommandNotFound",
        "guest-launch-missiles has not been found")
    err(c.call("guest-sync"), "missing arg", contains="Parameter 'id' is missing")
    err(c.call("guest-sync", {"id": "x"}), "wrong type", contains="'id', expected: integer")
    err(c.call("guest-exec", {"path": "/bin/true", "arg": ["a", 1]}), "list element",
        contains="'arg[1]'")
    # As QEMU's parser: integers beyond int64 and floats are not integers, however
    # they are spelled, and a repeated key is a parse error at any depth.
    for num in ["9223372036854775808", "18446744073709551616", "-9223372036854775809",
                "1" + "0" * 400, "1.0", "2e3"]:
        c.send('{"execute":"guest-sync","arguments":{"id":%s}}\n' % num)
        err(c.reply(), f"id {num[:30]}",
            contains="Invalid parameter type for 'id', expected: integer")
    for num in ["9223372036854775807", "-9223372036854775808"]:
        c.send('{"execute":"guest-sync","arguments":{"id":%s}}\n' % num)
        check(ok(c.reply(), f"id {num}") == int(num), f"id {num} survives")
    c.send('{"execute":"guest-sync","arguments":{"id":1},"id":18446744073709551616}\n')
    check(c.reply() == {"return": 1, "id": 18446744073709551616.0}, "huge id echoed as a number")
    for raw in ['{"execute":"guest-sync","arguments":{"id":1,"id":2}}',
                '{"execute":"guest-ping","execute":"guest-ping"}',
                '{"execute":"guest-ping","id":[{"a":{"b":1,"\\u0062":2}}]}',
                '{"execute":"guest-ping","id":{"k":{"x":1},"k":2}}']:
        c.send(raw + "\n")
        check(c.reply() == {"error": {"class": "GenericError",
                                      "desc": "JSON parse error, duplicate key"}},
              f"duplicate key in {raw}")
    c.send('{"execute":"guest-sync","arguments":{"id":1},"id":{"a":1,"b":{"a":2}}}\n')
    check(ok(c.reply(), "equal keys in different objects") == 1, "not a duplicate")
    err(c.call("guest-ping", {"bogus": 1}), "unexpected arg", contains="'bogus' is unexpected")
    err(c.call("guest-ping", 5), "arguments not an object", contains="'arguments'")
    c.send('{"execute":"guest-ping","bogus":1}\n')
    err(c.reply(), "unknown member", contains="'bogus' is unexpected")
    err(c.call("guest-shutdown", {"mode": "explode"}), "bad mode", contains="mode")
    c.send("[" * 10000 + "]" * 10000 + "\n")
    err(c.reply(), "deep nesting", contains="JSON parse error")
    # Over-long request: one error, the rest of the line skipped, then business as usual.
    c.send('{"execute":"guest-sync","arguments":{"id":1,"pad":"' + "a" * (5 << 20) + '"}}\n')
    err(c.reply(), "over-long", contains="exceeds")
    check(ok(c.call("guest-sync", {"id": 99}), "after over-long") == 99, "resync")
    check(ok(c.call("guest-ping"), "ping after bad input") == {}, "still serving")


def test_parallel(sock):
    # A client that stalls mid-request and one that never reads its replies
    # must not hold up the others.
    stalled = Client(sock)
    stalled.send('{"execute":"guest-sync","arguments":{"id":')
    deaf = Client(sock)
    deaf.send('{"execute":"guest-info"}\n' * 2000)
    errors = []

    def worker(n):
        try:
            c = Client(sock)
            for i in range(100):
                v = n * 1000 + i
                if i % 10 == 0:
                    c.send("{not json}\n")
                    err(c.reply(), "parallel garbage")
                r = c.call("guest-sync", {"id": v})
                check(r == {"return": v}, f"worker {n}: {r}")
            c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"worker {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not errors, "; ".join(errors))
    stalled.send('123}}\n')
    check(stalled.reply() == {"return": 123}, "stalled client completes later")
    stalled.close()
    deaf.close()


def test_freeze_nothing(agent, tmp):
    """guest-fsfreeze-freeze with no block-backed file system in sight.

    The agent runs in its own mount namespace with an empty file bound over its
    /proc/PID/mountinfo, so it sees nothing to freeze; fsinfo must agree
    before anything is frozen, since freezing this host's disks would hang it.
    """
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("skipped: freeze with nothing to freeze (needs root and unshare)")
        return
    empty, sock = os.path.join(tmp, "mountinfo-empty"), os.path.join(tmp, "ga-nofs.sock")
    open(empty, "w").close()
    script = 'mount --bind "$1" /proc/$$/mountinfo && exec "$2" --listen "unix:$3" --no-shutdown'
    logf = open(os.path.join(tmp, "agent-nofs.log"), "wb")
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                          empty, agent, sock], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    try:
        wait_socket(sock, p)
        c = Client(sock)
        check(ok(c.call("guest-get-fsinfo"), "fsinfo in the empty namespace") == [],
              "the agent still sees block-backed file systems; not freezing")
        check(ok(c.call("guest-fsfreeze-freeze"), "freeze nothing") == 0, "freeze count 0")
        check(ok(c.call("guest-fsfreeze-status"), "status") == "thawed", "thawed after freeze")
        check(ok(c.call("guest-get-osinfo"), "osinfo after freeze") is not None, "not refused")
        check(ok(c.call("guest-fsfreeze-thaw"), "thaw") == 0, "thaw count 0")
        c.close()
    finally:
        p.terminate()
        p.wait(30)


def test_shutdown(c, log):
    c.send('{"execute":"guest-shutdown","arguments":{"mode":"reboot"}}\n')
    # guest-shutdown sends nothing on success: the next reply is the ping's
    check(ok(c.call("guest-ping", id="after"), "ping after shutdown") == {}, "no reply")
    c.call("guest-ping")
    text = open(log, errors="replace").read()
    check("guest-shutdown mode=reboot: would run" in text, f"shutdown not logged: {text}")


def main():
    agent = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-guest-agent"
    with tempfile.TemporaryDirectory(prefix="kvmlet-ga-") as tmp:
        sock, log = os.path.join(tmp, "ga.sock"), os.path.join(tmp, "agent.log")
        p = start_agent(agent, sock, log, ["--no-shutdown"])
        try:
            c = Client(sock)
            for name, fn in [("basics", lambda: test_basics(c)),
                             ("info", lambda: test_info(c)),
                             ("exec", lambda: test_exec(c, tmp)),
                             ("files", lambda: test_files(c, tmp)),
                             ("bad input", lambda: test_bad_input(c)),
                             ("parallel", lambda: test_parallel(sock)),
                             ("freeze nothing", lambda: test_freeze_nothing(agent, tmp)),
                             ("shutdown", lambda: test_shutdown(c, log))]:
                t0 = time.monotonic()
                fn()
                print(f"ok: {name} ({time.monotonic() - t0:.1f}s)")
            # The agent exits with one process unreported and one still running:
            # ga_destroy() frees the first and leaves the second to its thread.
            ok(c.call("guest-exec", {"path": "/bin/true"}), "true, never reported")
            running = ok(c.call("guest-exec", {"path": "/bin/sleep", "arg": ["30"]}),
                         "sleep")["pid"]
            c.close()
            check(p.poll() is None, "agent died")
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
            os.kill(running, signal.SIGKILL)
            check(rc == 0, f"agent exit status {rc}")
            check(not os.path.exists(sock), "socket left behind")
            text = open(log, errors="replace").read()
            check("ERROR: AddressSanitizer" not in text and "runtime error" not in text,
                  f"sanitizer report:\n{text}")
        except Failure as e:
            print(f"FAIL: {e}")
            print(open(log, errors="replace").read()[-4000:])
            return 1
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: Apache-2.0
"""Compatibility with the real QEMU guest agent: the same requests go to
Debian's qemu-ga and to kvmlet-guest-agent, and the replies must have the same
structure (keys and value types, not values; error classes too).

usage: test_compat.py AGENT_BINARY     (needs root and qemu-ga)
"""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import Failure, check, skip
from guest_agent_client import Client, start_agent, wait_socket

# Keys that one side may legitimately include and the other omit, per reply
# path (QAPI optional members whose presence depends on the data).
OPTIONAL = {
    "guest-network-get-interfaces[]": {"statistics", "ip-addresses"},
    "guest-get-osinfo": {"variant", "variant-id"},
    "guest-get-fsinfo[].disk[]": {"serial", "dev"},
}


# Requests whose error description must match qemu-ga's word for word: what
# QEMU's JSON parser and QAPI visitors make of integers outside int64, floats
# where an integer is expected, and repeated keys.
EXACT = [(f"{what} {label}", '{"execute":"guest-sync","arguments":{"id":%s}}' % num)
         for what, label, num in [("id", "2^63-1", "9223372036854775807"),
                                  ("id", "2^63", "9223372036854775808"),
                                  ("id", "2^64-1", "18446744073709551615"),
                                  ("id", "2^64", "18446744073709551616"),
                                  ("id", "-2^63", "-9223372036854775808"),
                                  ("id", "-2^63-1", "-9223372036854775809"),
                                  ("id", "10^40", "1" + "0" * 40),
                                  ("id", "1.5", "1.5"), ("id", "1.0", "1.0"),
                                  ("id", "1e3", "1e3"), ("id", "-0", "-0")]] + [
    ("count 2^64", '{"execute":"guest-file-read","arguments":'
                   '{"handle":1000,"count":18446744073709551616}}'),
    ("pid -2^63-1", '{"execute":"guest-exec-status","arguments":{"pid":-9223372036854775809}}'),
    ("duplicate argument", '{"execute":"guest-sync","arguments":{"id":1,"id":2}}'),
    ("duplicate execute", '{"execute":"guest-ping","execute":"guest-ping"}'),
    ("duplicate escaped key", '{"execute":"guest-sync","arguments":{"id":1,"\\u0069d":2}}'),
    ("duplicate nested key", '{"execute":"guest-ping","id":{"a":[{"b":1,"b":1}]}}'),
    ("duplicate and huge", '{"execute":"guest-sync","arguments":{"id":1,"id":1e999}}'),
]
# guest-file-seek's whence is a QAPI alternate (an integer or a name): a
# number of any kind is held to the integer, and other types are refused.
WHENCE = [("7", "7"), ("-1", "-1"), ("bogus", '"bogus"'), ("true", "true"), ("null", "null"),
          ("1.5", "1.5"), ("2^64", "18446744073709551616"), ("object", "{}")]
EXACT_NAMES = {name for name, _ in EXACT} | {f"file-seek whence {name}" for name, _ in WHENCE}


def shape(v):
    """A comparable structure: dict keys with shapes, list element shapes merged."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        merged = None
        for x in v:
            s = shape(x)
            if isinstance(s, dict) and isinstance(merged, dict):
                for k, t in s.items():
                    merged.setdefault(k, t)
            elif merged is None:
                merged = s
        return ["list", merged]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "number"
    if v is None:
        return "null"
    return "str"


def diff(a, b, path, out):
    if isinstance(a, dict) and isinstance(b, dict):
        opt = OPTIONAL.get(path, set())
        for k in sorted(set(a) | set(b)):
            if k in a and k in b:
                diff(a[k], b[k], f"{path}.{k}" if path else k, out)
            elif k not in opt:
                out.append(f"{path}.{k}: only in {'qemu-ga' if k in a else 'kvmlet'}")
    elif isinstance(a, list) and isinstance(b, list):
        if a[1] is not None and b[1] is not None:
            diff(a[1], b[1], f"{path}[]", out)
    elif a != b and not {a, b} <= {"int", "number"}:
        out.append(f"{path}: qemu-ga {a}, kvmlet {b}")


def error_class(r):
    return r["error"]["class"] if "error" in r else None


def session(c, tmp, tag):
    """Runs the common script against one agent; returns [(name, reply)]."""
    out = []

    def call(name, execute, args=None, **kw):
        r = c.call(execute, args, **kw)
        out.append((name, r))
        return r

    def exec_done(name, args):
        pid = call(f"{name} (exec)", "guest-exec", args)["return"]["pid"]
        for _ in range(500):
            r = c.call("guest-exec-status", {"pid": pid})
            if r.get("return", {}).get("exited"):
                out.append((f"{name} (status)", r))
                return
            time.sleep(0.02)
        raise Failure(f"{tag}: {name} did not finish")

    for cmd in ["guest-ping", "guest-get-osinfo", "guest-get-host-name", "guest-get-time",
                "guest-get-timezone", "guest-get-users", "guest-network-get-interfaces",
                "guest-get-fsinfo", "guest-fsfreeze-status"]:
        call(cmd, cmd)
    call("guest-sync", "guest-sync", {"id": 1234})
    call("guest-ping with id", "guest-ping", id="x1")
    info = c.call("guest-info")["return"]
    out.append(("guest-info", {"return": {"version": info["version"],
                                          "supported_commands": info["supported_commands"][:1]}}))
    exec_done("exec echo", {"path": "/bin/echo", "arg": ["hi"], "capture-output": True})
    exec_done("exec cat stdin", {"path": "/bin/cat", "input-data": "aGVsbG8=",
                                 "capture-output": True})
    exec_done("exec exit 3", {"path": "/bin/sh", "arg": ["-c", "echo e >&2; exit 3"],
                              "capture-output": True})
    exec_done("exec no capture", {"path": "/bin/true"})
    exec_done("exec signal", {"path": "/bin/sh", "arg": ["-c", "kill -9 $$"]})
    pid = call("exec sleep", "guest-exec", {"path": "/bin/sleep", "arg": ["30"]})["return"]["pid"]
    call("exec-status running", "guest-exec-status", {"pid": pid})
    os.kill(pid, signal.SIGKILL)
    call("exec missing binary", "guest-exec", {"path": "/nonexistent/binary"})
    call("exec-status bad pid", "guest-exec-status", {"pid": 0x7ffffff0})
    path = os.path.join(tmp, f"file-{tag}")
    h = call("file-open", "guest-file-open", {"path": path, "mode": "w+"})["return"]
    call("file-write", "guest-file-write", {"handle": h, "buf-b64": "aGVsbG8="})
    call("file-seek", "guest-file-seek", {"handle": h, "offset": 0, "whence": "set"})
    for name, w in WHENCE:
        c.send('{"execute":"guest-file-seek","arguments":{"handle":%d,"offset":0,"whence":%s}}\n'
               % (h, w))
        out.append((f"file-seek whence {name}", c.reply()))
    call("file-read part", "guest-file-read", {"handle": h, "count": 2})
    call("file-read rest", "guest-file-read", {"handle": h})
    call("file-flush", "guest-file-flush", {"handle": h})
    call("file-close", "guest-file-close", {"handle": h})
    call("file-read closed", "guest-file-read", {"handle": h})
    call("file-open missing", "guest-file-open", {"path": os.path.join(tmp, "nope")})
    call("unknown command", "guest-no-such-command")
    call("missing argument", "guest-sync")
    call("wrong argument type", "guest-sync", {"id": "x"})
    call("unexpected argument", "guest-ping", {"bogus": 1})
    call("bad shutdown mode", "guest-shutdown", {"mode": "explode"})
    for name, raw in EXACT:
        c.send(raw + "\n")
        out.append((name, c.reply()))
    for name, raw in [("malformed JSON", "{bad}\n"), ("not an object", "[1]\n"),
                      ("no execute", '{"arguments":{}}\n'),
                      ("unknown member", '{"execute":"guest-ping","x":1}\n')]:
        c.send(raw)
        out.append((name, c.reply()))
    return out


def start_qga(tmp):
    qga = shutil.which("qemu-ga") or "/usr/sbin/qemu-ga"
    if not os.path.exists(qga):
        skip("qemu-ga is not installed (apt-get install qemu-guest-agent)")
    if os.geteuid() != 0:
        skip("qemu-ga's exec and file commands need root")
    sock = os.path.join(tmp, "qga.sock")
    state = os.path.join(tmp, "qga-state")
    os.mkdir(state)
    log = open(os.path.join(tmp, "qga.log"), "wb")
    p = subprocess.Popen([qga, "--method", "unix-listen", "--path", sock, "--statedir", state,
                          "--pidfile", os.path.join(tmp, "qga.pid"),
                          "--logfile", os.path.join(tmp, "qga-debug.log")],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_socket(sock, p)
    except Failure as e:
        p.kill()
        p.wait()
        skip(f"qemu-ga did not start: {e}: {open(log.name, errors='replace').read()[-500:]}")
    return p, sock


def main():
    agent = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-guest-agent"
    with tempfile.TemporaryDirectory(prefix="kvmlet-ga-compat-") as tmp:
        qga, qsock = start_qga(tmp)
        ours = start_agent(agent, os.path.join(tmp, "ga.sock"), os.path.join(tmp, "ga.log"),
                           ["--no-shutdown"])
        try:
            theirs_c, ours_c = Client(qsock), Client(os.path.join(tmp, "ga.sock"))
            qv = theirs_c.call("guest-info")["return"]["version"]
            a = session(theirs_c, tmp, "qga")
            b = session(ours_c, tmp, "kvmlet")
            failures = 0
            print(f"qemu-ga {qv} vs kvmlet-guest-agent, reply structure per request:")
            for (name, ra), (_, rb) in zip(a, b):
                problems = []
                if name in EXACT_NAMES and ra != rb:
                    problems.append(f"qemu-ga {ra}, kvmlet {rb}")
                elif error_class(ra) != error_class(rb):
                    problems.append(f"qemu-ga {str(ra)[:150]}, kvmlet {str(rb)[:150]}")
                elif "return" in ra and "return" in rb:
                    # OPTIONAL is keyed by the command's name and the path below it
                    diff(shape(ra["return"]), shape(rb["return"]), name, problems)
                else:
                    diff(shape(ra), shape(rb), "", problems)
                status = "same" if not problems else "DIFFERENT"
                failures += bool(problems)
                print(f"  {status:9} {name}" + "".join(f"\n      {p}" for p in problems))
            check(failures == 0, f"{failures} replies differ in structure")
        finally:
            for p in (qga, ours):
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    print("PASS")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as e:
        print(f"FAIL: {e}")
        sys.exit(1)

# SPDX-License-Identifier: Apache-2.0
"""Live migration between two kvmlet-vmm processes, for integration tests and
bench/migration. Standard library only, so bench/ can import it too
(sys.path.insert(0, "<repo>/tests/integration/lib")).

The guest side is the firmware's `migrate` test (firmware/README.md): run it
with `kvmlet.test=migrate`, optionally `kvmlet.dirty_mibps=N` and
`kvmlet.gap_ms=P`; it prints `gap max_us=... total_ticks=... pages=...
period_us=...` every P ms, and `migrate FAIL (...)` if a page it dirtied
came back wrong. The gap in the first report the target prints spans the
switchover: that is the guest's own view of the downtime.

The VMM side is kvmlet's migration API (docs/api.md):
PUT /kvmlet/migration/receive, PUT /kvmlet/migration/send,
GET /kvmlet/migration, PUT /kvmlet/migration/cancel, and
`kvmlet-vmm --migrate-from ADDR --migrate-token T`.

API:

    api(sock, method, path, body=None, timeout=10) -> (status, json or text)
        One HTTP/1.1 request over the VMM's Unix API socket.
    has_migration_api(sock) -> bool
        False when the VMM does not know GET /kvmlet/migration (404, or the
        Firecracker-style 400 "Invalid request method and/or path").
    receive(sock, listen, token)
        PUT /kvmlet/migration/receive on a fresh VMM (--api-sock only);
        listen is "tcp:ADDR:PORT" or "unix:PATH". Raises MigrationError.
    send(sock, destination, token, downtime_ms=300, max_bandwidth_mibps=0,
         auto_converge=False, connections=1, timeout_s=0)
        PUT /kvmlet/migration/send on the running source; returns the
        time.perf_counter_ns() just before the request was written.
    status(sock) -> dict
        GET /kvmlet/migration (phase, role, iteration, bytes_sent, ...).
    wait_done(sock, timeout=120, poll_s=0.002, ok=("completed",), proc=None)
        -> dict
        Polls GET /kvmlet/migration until the phase is final ("completed",
        "failed" or "cancelled"); returns the last status with "seen_ns",
        the perf_counter_ns at which that phase was first read,
        "max_throttle_percent" (the most auto-converge applied, as polled)
        and "final": True. A source that migrated exits (status 5) unless it
        was started with --keep-halted: given its Popen as proc, that
        counts as "completed" with the last figures read ("final": False).
        Raises MigrationError if the final phase is not in ok or the VMM
        went away otherwise, TimeoutError after timeout seconds.
    free_tcp_port() -> int
        A port on 127.0.0.1 free right now (bind to 0, close).
    migrate_from_args(listen, token) -> list
        The kvmlet-vmm options for a receiving VMM without an API call.
    Serial(proc)
        Reads a process's stdout on a thread, every line stamped with
        time.perf_counter_ns(); .wait_line(pred, start=0, timeout=60) ->
        (index, ns, line); .gaps(start=0) -> [Gap]; .lines is
        [(ns, bytes)]. Raises MigrationError on `migrate FAIL`.
    parse_gap(line) -> Gap or None
        Gap fields: max_us, kvmclock_max_us (None without kvmclock),
        total_ticks, pages, period_us.
    switchover_gap(source, target) -> Gap
        The target's first report, checked to continue the source's count
        of ticks (the same guest, not a reboot).
"""
import collections
import http.client
import json
import os
import re
import socket
import threading
import time

GAP_RE = re.compile(rb"^gap max_us=(\d+)(?: kvmclock_max_us=(\d+))? total_ticks=(\d+) "
                    rb"pages=(\d+) period_us=(\d+)$")
FAIL_PREFIX = b"migrate FAIL"
FINAL_PHASES = ("completed", "failed", "cancelled")
EXIT_MIGRATED = 5  # KVMLET_EXIT_MIGRATED, include/kvmlet/exit_codes.h

Gap = collections.namedtuple("Gap", "max_us kvmclock_max_us total_ticks pages period_us")


class MigrationError(RuntimeError):
    pass


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, timeout=10):
    conn = _UnixHTTP(sock, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(payload) if payload else None
    except ValueError:
        parsed = payload.decode(errors="replace")
    return r.status, parsed


def _expect(sock, method, path, body, status=204):
    got, reply = api(sock, method, path, body)
    if got != status:
        raise MigrationError(f"{method} {path}: HTTP {got}: {reply}")
    return reply


def has_migration_api(sock):
    got, reply = api(sock, "GET", "/kvmlet/migration")
    if got == 404:
        return False
    # A route the server does not know is Firecracker's 400 "Invalid request
    # method and/or path", which kvmlet's API keeps for compatibility.
    msg = reply.get("fault_message", "") if isinstance(reply, dict) else str(reply)
    return not (got == 400 and "Invalid request method and/or path" in msg)


def receive(sock, listen, token):
    _expect(sock, "PUT", "/kvmlet/migration/receive", {"listen": listen, "token": token})


def send(sock, destination, token, downtime_ms=300, max_bandwidth_mibps=0,
         auto_converge=False, connections=1, timeout_s=0):
    body = {"destination": destination, "token": token, "downtime_ms": downtime_ms,
            "max_bandwidth_mibps": max_bandwidth_mibps, "auto_converge": auto_converge,
            "connections": connections, "timeout_s": timeout_s}
    t0 = time.perf_counter_ns()
    _expect(sock, "PUT", "/kvmlet/migration/send", body)
    return t0


def status(sock):
    return _expect(sock, "GET", "/kvmlet/migration", None, 200)


def wait_done(sock, timeout=120, poll_s=0.002, ok=("completed",), proc=None):
    end = time.monotonic() + timeout
    last = {}
    while True:
        try:
            st = status(sock)
        except (OSError, http.client.HTTPException) as e:
            # Without --keep-halted a source that migrated exits at once.
            if proc is None:
                raise MigrationError(f"GET /kvmlet/migration: {e!r}") from e
            try:
                code = proc.wait(5)
            except Exception:
                raise MigrationError(f"GET /kvmlet/migration: {e!r}") from e
            if code != EXIT_MIGRATED:
                raise MigrationError(f"the source exited with {code}: {last}") from e
            return dict(last, phase="completed", final=False,
                        seen_ns=time.perf_counter_ns())
        st["max_throttle_percent"] = max(last.get("max_throttle_percent", 0),
                                         st.get("throttle_percent") or 0)
        last = st
        if st.get("phase") in FINAL_PHASES:
            st["seen_ns"] = time.perf_counter_ns()
            st["final"] = True
            if st["phase"] not in ok:
                raise MigrationError(f"migration {st['phase']}: {st.get('error')} ({st})")
            return st
        if time.monotonic() > end:
            raise TimeoutError(f"migration not done after {timeout} s: {st}")
        time.sleep(poll_s)  # a bounded poll of a condition, not a synchronisation by delay


def free_tcp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate_from_args(listen, token):
    return ["--migrate-from", listen, "--migrate-token", token]


def parse_gap(line):
    m = GAP_RE.match(line.rstrip(b"\r") if isinstance(line, bytes) else line.encode())
    if not m:
        return None
    return Gap(int(m.group(1)), int(m.group(2)) if m.group(2) else None, int(m.group(3)),
               int(m.group(4)), int(m.group(5)))


class Serial:
    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.partial = b""
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            chunk = os.read(fd, 65536)
            t = time.perf_counter_ns()
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            if done:
                with self.cond:
                    self.lines.extend((t, line.rstrip(b"\r")) for line in done)
                    self.cond.notify_all()
        with self.cond:
            self.partial = buf
            self.eof = True
            self.cond.notify_all()

    def wait_line(self, pred, start=0, timeout=60):
        end = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    if line.startswith(FAIL_PREFIX):
                        raise MigrationError(f"guest: {line.decode(errors='replace')}")
                    if pred(line):
                        return i, t, line
                    i += 1
                left = end - time.monotonic()
                if self.eof or left <= 0:
                    tail = b" | ".join(l for _, l in self.lines[-4:]).decode(errors="replace")
                    raise MigrationError("no expected serial line ("
                                         + ("end of output" if self.eof else "timeout")
                                         + f"); last lines: {tail}")
                self.cond.wait(left)

    def wait_gaps(self, n, start=0, timeout=60):
        """Waits for n report lines at or after index start; returns the
        index just past the last one."""
        i = start
        for _ in range(n):
            i, _, _ = self.wait_line(lambda l: parse_gap(l) is not None, i, timeout)
            i += 1
        return i

    def gaps(self, start=0):
        with self.cond:
            return [g for g in (parse_gap(l) for _, l in self.lines[start:]) if g]


def switchover_gap(source, target, timeout=60):
    target.wait_line(lambda l: parse_gap(l) is not None, 0, timeout)
    first = target.gaps()[0]
    before = source.gaps()
    if before and first.total_ticks <= before[-1].total_ticks:
        raise MigrationError(f"the target's first report {first} does not continue the "
                             f"source's last {before[-1]}")
    return first

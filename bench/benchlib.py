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


# --- Control channels: kvmlet's Firecracker-style API and QEMU's QMP, both
# over Unix sockets, with the standard library only.

import http.client  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import time  # noqa: E402


def wait_unix_socket(path, timeout=10.0, proc=None):
    """Connects to a Unix stream socket as soon as it accepts (polling every
    0.1 ms); returns the connected socket. Fails early if proc has exited."""
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{path}: the process exited ({proc.returncode}) "
                               "before its socket accepted")
        if time.monotonic() > end:
            raise TimeoutError(f"{path}: no listener after {timeout} s")
        time.sleep(0.0001)


class ApiError(RuntimeError):
    pass


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a Unix stream socket (Firecracker's and kvmlet's API)."""

    def __init__(self, path, timeout=120.0, sock=None):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path
        self.sock = sock
        if sock is not None:
            sock.settimeout(timeout)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class FirecrackerApi:
    """A kept-alive client of the Firecracker-compatible API. call() returns
    (round trip in ns, status, parsed body or None): the round trip is from
    just before the request is written to the socket to the last byte of the
    response read (connection set-up excluded), by time.perf_counter_ns."""

    def __init__(self, path, timeout=120.0, sock=None):
        self.conn = UnixHTTPConnection(path, timeout, sock)

    def call(self, method, url, body=None, ok=(200, 204)):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.conn.sock is None:
            self.conn.connect()
        t0 = time.perf_counter_ns()
        try:
            self.conn.request(method, url, body=data, headers=headers)
            r = self.conn.getresponse()
            payload = r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            raise ApiError(f"{method} {url}: {e!r}") from e
        t1 = time.perf_counter_ns()
        parsed = None
        if payload:
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = payload.decode(errors="replace")
        if r.status not in ok:
            raise ApiError(f"{method} {url}: HTTP {r.status}: {parsed}")
        return t1 - t0, r.status, parsed

    def close(self):
        self.conn.close()


class Qmp:
    """A QMP client: commands with their replies, and events as they come,
    each stamped with time.perf_counter_ns when read."""

    def __init__(self, sock, timeout=120.0):
        sock.settimeout(timeout)
        self.sock = sock
        self.f = sock.makefile("rb")
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        line = self.f.readline()
        t = time.perf_counter_ns()
        if not line:
            raise RuntimeError("QMP: QEMU closed the connection")
        return t, json.loads(line)

    def send(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        t = time.perf_counter_ns()
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        return t

    def reply(self, name=""):
        """The next command reply: (ns when read, its "return")."""
        while True:
            t, msg = self._read()
            if "event" in msg:
                self.events.append((t, msg))
            elif "error" in msg:
                raise RuntimeError(f"QMP {name}: {msg['error']}")
            elif "return" in msg:
                return t, msg["return"]

    def cmd(self, name, args=None):
        """(round trip ns, return value)."""
        t0 = self.send(name, args)
        t1, ret = self.reply(name)
        return t1 - t0, ret

    def wait_event(self, pred):
        """The first (ns, event) so far or to come for which pred(event)."""
        for i, (t, ev) in enumerate(self.events):
            if pred(ev):
                del self.events[: i + 1]
                return t, ev
        self.events.clear()
        while True:
            t, msg = self._read()
            if "event" in msg and pred(msg):
                return t, msg

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()

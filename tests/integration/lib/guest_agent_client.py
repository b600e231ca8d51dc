# SPDX-License-Identifier: Apache-2.0
"""A minimal QEMU guest agent protocol client and process helpers, shared by
the kvmlet-guest-agent tests (guest_agent/test_guest_agent.py, guest_agent/test_compat.py)."""
import json
import os
import socket
import subprocess
import time

from harness import Failure

TIMEOUT = 20


class Client:
    def __init__(self, path, timeout=TIMEOUT, vsock_port=None):
        """path: the agent's Unix socket; with vsock_port, a VMM's vsock socket
        (Firecracker's hybrid design: "CONNECT <port>" first, "OK <n>" back)."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        if vsock_port is not None:
            self.send(f"CONNECT {vsock_port}\n")
            ok = self.line().decode(errors="replace")
            if not ok.startswith("OK "):
                self.close()
                raise Failure(f"vsock port {vsock_port}: handshake answered {ok!r}")

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, dict):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """One reply line (with a leading 0xFF kept), as bytes."""
        while b"\n" not in self.buf:
            d = self.sock.recv(1 << 20)
            if not d:
                raise Failure(f"agent closed the connection; partial reply {self.buf[:200]!r}")
            self.buf += d
        out, self.buf = self.buf.split(b"\n", 1)
        return out

    def reply(self):
        raw = self.line()
        return json.loads(raw.lstrip(b"\xff"))

    def call(self, execute, arguments=None, **extra):
        req = {"execute": execute, **extra}
        if arguments is not None:
            req["arguments"] = arguments
        self.send(json.dumps(req) + "\n")
        return self.reply()


def wait_socket(path, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise Failure(f"agent exited early with {proc.returncode}")
        if os.path.exists(path):
            try:
                Client(path, timeout=2).close()
                return
            except OSError:
                pass
        time.sleep(0.05)
    raise Failure(f"{path} did not appear")


def start_agent(agent, sock, log, extra=()):
    logf = open(log, "wb")
    p = subprocess.Popen([agent, "--listen", f"unix:{sock}", *extra], stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=logf)
    wait_socket(sock, p)
    return p

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The source always survives: one source guest meets, in turn, a target
presenting the wrong token, a target that refuses its configuration
(fewer vCPUs, less memory allowed), a target killed while listening, after
START, mid-memory and before it confirms it runs, a connection cut, a byte
corrupted in flight each way (CRC), a truncated stream, a timeout and a
cancel. After each the source's guest keeps counting with nothing lost,
and the target never ran it (it exits 1); a last migration then succeeds.
Faults are placed by a proxy that parses the stream's frames."""
import os
import signal
import socket
import struct
import sys
import threading

from apiclient import Vmm
from harness import Failure, check, kvm_usable, main, skip
from live_migration import (boot_source, check_continues, progress, receiver, send, still_running,
                       token, wait_phase, wait_source_gone)

HEADER = struct.Struct("<IHHII")  # magic, version, type, flags, length
START, PAGES, COMPLETE, ACCEPT = 2, 3, 6, 16


class Proxy:
    """Listens on a Unix socket and relays each connection to the target,
    frame by frame from the source (and byte for byte back), calling
    fault(direction, index, type, frame) -> frame, or None to cut."""

    def __init__(self, path, target, fault):
        self.path, self.target, self.fault = path, target, fault
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(path)
        self.lsock.listen(8)
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            t = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                t.connect(self.target)
            except OSError:
                c.close()
                continue
            self.socks += [c, t]
            threading.Thread(target=self._relay, args=(c, t, "out"), daemon=True).start()
            threading.Thread(target=self._relay, args=(t, c, "back"), daemon=True).start()

    @staticmethod
    def _read(s, n):
        buf = b""
        while len(buf) < n:
            d = s.recv(n - len(buf))
            if not d:
                return None
            buf += d
        return buf

    def _relay(self, a, b, direction):
        i = 0
        try:
            while True:
                head = self._read(a, HEADER.size)
                if head is None:
                    break
                _, _, kind, _, length = HEADER.unpack(head)
                rest = self._read(a, length + 4)
                if rest is None:
                    break
                frame = self.fault(direction, i, kind, head + rest)
                i += 1
                if frame is None:
                    break
                b.sendall(frame)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()
        for s in self.socks:
            s.close()
        os.unlink(self.path)


def flip(frame, at):
    return frame[:at] + bytes([frame[at] ^ 0x40]) + frame[at + 1:]


def attempt(src, fault=None, expect="failed", words=(), kill_when=None, kill_first=False,
            limits=None, **opts):
    """One migration that must not succeed; returns the source's progress."""
    tok = token()
    direct = os.path.join(src.dir, "mig.sock")
    via = os.path.join(src.dir, "proxy.sock")
    with receiver("unix:" + direct, tok, **(limits or {})) as dst:
        proxy = Proxy(via, direct, fault) if fault else None
        try:
            if kill_first:
                dst.proc.send_signal(signal.SIGKILL)
                dst.wait(30)
            send(src, "unix:" + (via if proxy else direct), opts.pop("token", tok), **opts)
            if kill_when:
                wait_phase(dst, ("receiving", "listening"), cond=kill_when)
                dst.proc.send_signal(signal.SIGKILL)
            p = wait_phase(src, ("completed", "failed", "cancelled"), timeout=90)
            code = dst.wait(60)
        finally:
            if proxy:
                proxy.close()
        check(p["phase"] == expect, f"source progress {p}, expected {expect}")
        for w in words:
            check(w in p.get("error", ""), f"source error {p.get('error')!r} lacks {w!r}")
        check(code != 0, f"target exit {code}")
        check("counter " not in dst.stdout(), "the target ran the guest")
    still_running(src)
    print(f"survived: {p['phase']}: {p.get('error', '')}")
    return p


def test_source_survives_every_fault():
    with Vmm() as src:
        try:
            faults(src)
        except Failure as e:
            raise Failure(f"{e}\nsource (exit {src.proc.poll()}): {src.stderr()[-2500:]}")


def faults(src):
    if True:
        boot_source(src, vcpus=2, mib=128)
        attempt(src, token="not-the-token", words=("token",))
        attempt(src, limits={"max_vcpus": 1}, words=("refused", "vCPUs"))
        attempt(src, limits={"max_memory_mib": 64}, words=("refused", "MiB"))
        # Killed while listening: the send cannot even connect.
        attempt(src, kill_first=True, words=("connect",))
        # Killed after START: the proxy holds everything after it.
        held = threading.Event()

        def hold_after_start(d, i, kind, frame):
            if d == "out" and kind == PAGES:
                held.set()
                threading.Event().wait(600)
            return frame
        attempt(src, fault=hold_after_start, kill_when=lambda p: held.is_set())
        # Killed mid-memory, on a slow link.
        attempt(src, max_bandwidth_mibps=2, kill_when=lambda p: p["pages_sent"] > 100)
        # Killed before it confirms: when COMPLETE goes by, the target dies.
        victim = {}

        def kill_at_complete(d, i, kind, frame):
            if d == "out" and kind == COMPLETE:
                os.kill(victim["pid"], signal.SIGKILL)
                return None
            return frame
        tok = token()
        direct = os.path.join(src.dir, "mig.sock")
        via = os.path.join(src.dir, "proxy.sock")
        with receiver("unix:" + direct, tok) as dst:
            victim["pid"] = dst.proc.pid
            proxy = Proxy(via, direct, kill_at_complete)
            try:
                send(src, "unix:" + via, tok)
                p = wait_phase(src, ("completed", "failed", "cancelled"), timeout=90)
            finally:
                proxy.close()
            check(p["phase"] == "failed", f"progress {p}")
            dst.wait(30)
        still_running(src)
        # The connection cut mid-memory.
        attempt(src, fault=lambda d, i, kind, f: None if d == "out" and i == 5 else f)
        # A byte corrupted in flight, each way.
        attempt(src, fault=lambda d, i, kind, f: flip(f, 30) if d == "out" and kind == PAGES
                and i == 3 else f)
        attempt(src, fault=lambda d, i, kind, f: flip(f, 2) if d == "back" and kind == ACCEPT
                else f, words=("ACCEPT",))
        # Truncated: half of a frame, then the end.
        attempt(src, fault=lambda d, i, kind, f: f[:len(f) // 2] if d == "out" and i == 4
                else f)
        # Timed out, and cancelled, on a slow link.
        attempt(src, max_bandwidth_mibps=1, timeout_s=1, words=("timed out",))
        with receiver("unix:" + direct, tok := token()) as dst:
            send(src, "unix:" + direct, tok, max_bandwidth_mibps=1)
            wait_phase(src, ("precopy",), cond=lambda p: p["bytes_sent"] > 0)
            from live_migration import ok
            ok(src, "PUT", "/kvmlet/migration/cancel", {})
            p = wait_phase(src, ("cancelled", "failed"))
            check(p["phase"] == "cancelled", f"progress {p}")
            check(dst.wait(60) == 1, "target exit after the cancel")
        still_running(src)
        # After all that, a migration goes through.
        with receiver("unix:" + direct, tok := token()) as dst:
            send(src, "unix:" + direct, tok)
            wait_source_gone(src)
            check_continues(src.counter_in_progress(), dst)


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable")
    main([test_source_survives_every_fault])

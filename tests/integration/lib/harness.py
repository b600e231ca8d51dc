# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for kvmlet's integration tests.

Tests start real kvmlet-vmm processes on real /dev/kvm. Paths come from the
environment that ctest sets (see tests/integration/CMakeLists.txt).
"""
import os
import socket
import struct
import subprocess
import sys

VMM = os.environ.get("KVMLET_VMM", "build/bin/kvmlet-vmm")
FIRMWARE = os.environ.get("KVMLET_FIRMWARE", "build/firmware/kvmlet-testguest.elf")
SKIP = 77  # ctest's SKIP_RETURN_CODE for these tests

# Every run is bounded: a hung VMM fails the test instead of stalling ctest.
RUN_TIMEOUT = 60


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run_vmm(args, timeout=RUN_TIMEOUT, env=None, stdin=subprocess.DEVNULL, prefix=()):
    """Runs the VMM to completion; returns (exit code, stdout, stderr)."""
    p = subprocess.run([*prefix, VMM, *args], stdin=stdin, capture_output=True,
                       timeout=timeout, env=env, text=True, errors="replace")
    return p.returncode, p.stdout, p.stderr


def start_vmm(args, prefix=()):
    """Starts the VMM with pipes for all three streams; the caller reads and reaps it."""
    return subprocess.Popen([*prefix, VMM, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")


def read_until(p, text):
    """Reads the guest's serial output line by line until one contains text.
    Returns everything read; fails (with the VMM's stderr) if output ends first."""
    seen = ""
    for line in p.stdout:
        seen += line
        if text in line:
            return seen
    p.kill()
    raise Failure(f"output ended before {text!r}:\n{seen}\n{p.stderr.read()}")


def unix_http_get(sock, path):
    """One GET over a unix socket with Connection: close; the whole response
    (head and body) as text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data.decode()


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def kvm_usable():
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def elf64(segments, entry, pvh_entry=None, machine=62):
    """Builds an ELF64 executable. segments: list of (paddr, data, memsz)."""
    notes = b""
    if pvh_entry is not None:
        notes = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", pvh_entry)
    phnum = len(segments) + (1 if notes else 0)
    off = 64 + 56 * phnum
    phdrs, body = b"", b""
    for paddr, data, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, off + len(body), paddr, paddr,
                             len(data), memsz, 0x1000)
        body += data
    if notes:
        phdrs += struct.pack("<IIQQQQQQ", 4, 4, off + len(body), 0, 0,
                             len(notes), len(notes), 4)
        body += notes
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, entry, 64, 0, 0,
                               64, 56, phnum, 0, 0, 0)
    return ehdr + phdrs + body


def main(tests):
    """Runs test functions; prints a pass/fail line per test and a summary."""
    failed = 0
    for t in tests:
        try:
            t()
            print(f"ok   {t.__name__}")
        except (Failure, subprocess.TimeoutExpired) as e:
            failed += 1
            print(f"FAIL {t.__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


class NetNS:
    """A network namespace holding one TAP device with the host's address,
    deleted on exit. Commands run inside with .run() or .prefix."""

    def __init__(self, tag, host_ip, prefix_len=24):
        self.name = f"kvmlet-{tag}-{os.getpid()}"
        self.tap = f"kvt{tag[:4]}{os.getpid() % 100000}"[:15]
        self.host_ip = host_ip
        self.prefix_len = prefix_len
        self.prefix = ("ip", "netns", "exec", self.name)

    def run(self, *cmd, check=True, **kw):
        return subprocess.run([*self.prefix, *cmd], check=check, **kw)

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "tuntap", "add", "dev", self.tap, "mode", "tap", "vnet_hdr")
            self.run("ip", "addr", "add", f"{self.host_ip}/{self.prefix_len}", "dev", self.tap)
            self.run("ip", "link", "set", self.tap, "up")
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def netns_usable():
    r = subprocess.run(["ip", "netns", "add", f"kvmlet-probe-{os.getpid()}"],
                       capture_output=True)
    if r.returncode == 0:
        subprocess.run(["ip", "netns", "delete", f"kvmlet-probe-{os.getpid()}"])
    return r.returncode == 0

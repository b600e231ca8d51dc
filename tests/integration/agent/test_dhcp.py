#!/usr/bin/env python3
"""kvmlet-dhcpd, the VM's DHCP responder, against a real DHCP client
(busybox udhcpc) in place of the guest: the responder runs in one namespace
on one end of a veth pair, the client in another on the other end with the
guest's MAC. The client must be given the CNI address, mask, router, DNS,
domain, MTU and routes; a client with another MAC must get nothing; the
responder must end when its interface goes away."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import check, main, netns_usable, skip

DHCPD = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-dhcpd"
TAG = f"{os.getpid() % 100000}"
SRV = f"kvdh-srv-{TAG}"
CLI = f"kvdh-cli-{TAG}"
GUEST_MAC = "02:42:0a:d6:00:05"
BUSYBOX = shutil.which("busybox")

SCRIPT = """#!/bin/sh
[ "$1" = bound ] || exit 0
env > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
"""


class Setup:
    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="kvmlet-dhcp-")
        for ns in (SRV, CLI):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", "srv0", "netns", SRV, "type", "veth", "peer", "name",
                        "cli0", "netns", CLI], check=True)
        subprocess.run(["ip", "-n", SRV, "link", "set", "srv0", "up"], check=True)
        subprocess.run(["ip", "-n", CLI, "link", "set", "cli0", "address", GUEST_MAC, "up"],
                       check=True)
        self.script = f"{self.tmp.name}/script"
        with open(self.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(self.script, 0o755)
        self.out = f"{self.tmp.name}/lease"
        self.dhcpd = subprocess.Popen(
            [DHCPD, "--netns", f"/run/netns/{SRV}", "--if", "srv0", "--client-mac", GUEST_MAC,
             "--ip", "10.214.0.5/24", "--router", "10.214.0.1", "--dns", "10.214.0.53",
             "--dns", "10.214.0.54", "--domain", "pods.example", "--hostname", "web-0",
             "--mtu", "1400", "--route", "10.96.0.0/12,10.214.0.254"],
            stderr=subprocess.PIPE, text=True)
        return self

    def client(self, tries=4):
        env = dict(os.environ, OUT=self.out)
        return subprocess.run(["ip", "netns", "exec", CLI, BUSYBOX, "udhcpc", "-i", "cli0", "-f",
                               "-q", "-n", "-t", str(tries), "-T", "1", "-s", self.script,
                               "-O", "mtu", "-O", "staticroutes", "-O", "hostname"],
                              env=env, capture_output=True, text=True, timeout=60)

    def __exit__(self, *exc):
        if self.dhcpd.poll() is None:
            self.dhcpd.kill()
        self.dhcpd.wait()
        for ns in (SRV, CLI):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self.tmp.cleanup()


def test_real_client_gets_the_cni_address():
    with Setup() as s:
        r = s.client()
        check(r.returncode == 0, f"udhcpc got no lease: {r.stdout} {r.stderr}")
        with open(s.out) as f:
            env = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
        want = {"ip": "10.214.0.5", "subnet": "255.255.255.0", "router": "10.214.0.1",
                "dns": "10.214.0.53 10.214.0.54", "domain": "pods.example", "mtu": "1400",
                "serverid": "10.214.0.1", "hostname": "web-0"}
        for k, v in want.items():
            check(env.get(k, "").strip() == v, f"{k}={env.get(k)!r}, want {v!r}")
        check("10.96.0.0/12 10.214.0.254" in env.get("staticroutes", ""),
              f"staticroutes={env.get('staticroutes')!r}")
        check("0.0.0.0/0 10.214.0.1" in env.get("staticroutes", ""),
              f"no default route in option 121: {env.get('staticroutes')!r}")


def test_other_mac_gets_nothing():
    with Setup() as s:
        subprocess.run(["ip", "-n", CLI, "link", "set", "cli0", "address", "02:00:00:00:00:99"],
                       check=True)
        r = s.client(tries=2)
        check(r.returncode != 0, f"a client with another MAC got a lease: {r.stdout}")
        check(s.dhcpd.poll() is None, "the responder died")


def test_ends_with_its_interface():
    with Setup() as s:
        deadline = time.monotonic() + 10
        # Its first line says it is serving: the socket is bound.
        line = s.dhcpd.stderr.readline()
        check("serving on srv0" in line, f"responder said: {line}")
        subprocess.run(["ip", "-n", SRV, "link", "del", "srv0"], check=True)
        while s.dhcpd.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        check(s.dhcpd.poll() == 0, f"responder still running or failed: {s.dhcpd.poll()}")


def test_bad_arguments():
    for args in (["--if", "x"], ["--if", "x", "--client-mac", "zz", "--ip", "10.0.0.1/24"],
                 ["--if", "x", "--client-mac", GUEST_MAC, "--ip", "10.0.0.1/33"],
                 ["--if", "x", "--client-mac", GUEST_MAC, "--ip", "10.0.0.1/24", "--mtu", "9"]):
        r = subprocess.run([DHCPD, *args], capture_output=True, text=True, timeout=10)
        check(r.returncode == 2 and "kvmlet-dhcpd:" in r.stderr, f"{args}: {r.returncode} {r.stderr}")


if __name__ == "__main__":
    if os.geteuid() != 0 or not netns_usable():
        skip("needs root and network namespaces")
    if not BUSYBOX:
        skip("busybox (udhcpc) is not installed (scripts/install-deps)")
    main([test_real_client_gets_the_cni_address, test_other_mac_gets_nothing,
          test_ends_with_its_interface, test_bad_arguments])

#!/usr/bin/env python3
"""The VM's TAP joined to the CNI interface by tc redirect (agent/net/vmnet.c),
in namespaces the test makes: a pod namespace with eth0 (one end of a veth
pair) and the outside namespace with the other end. The test plays the
VMM: it opens the TAP as kvmlet-vmm does (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR)
and checks that frames written to it come out of the veth's far end and
the reverse, that the pod namespace's own stack sees none of them, and
that detach leaves nothing."""

import ctypes
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time

from harness import check, main, netns_usable, skip

TOOL = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-net-tool"
TAG = f"{os.getpid() % 100000}"
POD = f"kvvm-pod-{TAG}"
OUT = f"kvvm-out-{TAG}"
TAP = f"kvtap{TAG}"[:15]
ETHERTYPE = 0x88B5  # local experimental: nothing else sends it
VNET_HDR = 10
libc = ctypes.CDLL(None, use_errno=True)


def ip(*args, ns=None):
    pre = ["ip", "-n", ns] if ns else ["ip"]
    return subprocess.run([*pre, *args], check=True, capture_output=True, text=True).stdout


def setns(name):
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), 0x0002 | 0x1000 | 0x4000)
    fcntl.ioctl(fd, 0x400454CA, ifr)  # TUNSETIFF
    return fd


def frame(dst, src, payload):
    return dst + src + struct.pack("!H", ETHERTYPE) + payload


def recv_marker(read, marker, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = read(deadline - time.monotonic())
        if data is not None and marker in data:
            return data
    return None


class Setup:
    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        for ns in (POD, OUT):
            subprocess.run(["ip", "netns", "add", ns], check=True)
        ip("link", "add", "eth0", "netns", POD, "type", "veth", "peer", "name", "peer0",
           "netns", OUT)
        ip("link", "set", "eth0", "mtu", "1400", "up", ns=POD)
        ip("addr", "add", "10.77.0.2/24", "dev", "eth0", ns=POD)
        ip("link", "set", "peer0", "mtu", "1400", "up", ns=OUT)
        return self

    def tool(self, cmd, *extra):
        return subprocess.run([TOOL, cmd, "--netns", f"/run/netns/{POD}", "--tap", TAP, *extra],
                              capture_output=True, text=True, timeout=30)

    def __exit__(self, *exc):
        libc.setns(self.home, 0x40000000)
        os.close(self.home)
        for ns in (POD, OUT):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def test_redirect_both_ways():
    with Setup() as s:
        r = s.tool("attach", "--uid", "4242", "--gid", "4343")
        check(r.returncode == 0, f"attach failed: {r.stderr}")
        info = json.loads(r.stdout)
        eth0_mac = ip("-o", "link", "show", "eth0", ns=POD).split("link/ether ")[1].split()[0]
        check(info["mac"] == eth0_mac, f"guest MAC {info['mac']} is not eth0's {eth0_mac}")
        check(info["mtu"] == 1400, f"mtu {info['mtu']}")
        tap = ip("-d", "-o", "link", "show", TAP, ns=POD)
        check("mtu 1400" in tap and "user 4242" in tap and "group 4343" in tap and
              "vnet_hdr on" in tap and "persist on" in tap, f"TAP: {tap}")
        r = s.tool("attach")
        check(r.returncode != 0 and "TUNSETIFF" in r.stderr, f"a second attach: {r.stderr}")

        setns(POD)
        tfd = open_tap(TAP)
        setns(OUT)
        ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
        ps.bind(("peer0", ETHERTYPE))
        ps.settimeout(0.2)
        peer_mac = ps.getsockname()[4]
        guest_mac = bytes.fromhex(info["mac"].replace(":", ""))

        # guest → pod network: written to the TAP, out of eth0, into peer0.
        os.write(tfd, bytes(VNET_HDR) + frame(peer_mac, guest_mac, b"to-peer" + bytes(60)))

        def from_peer(left):
            try:
                return ps.recv(2048)
            except socket.timeout:
                return None
        got = recv_marker(from_peer, b"to-peer")
        check(got is not None and got[6:12] == guest_mac, "the guest's frame did not reach peer0")

        # pod network → guest: sent to eth0's MAC from peer0, read from the TAP.
        ps.send(frame(guest_mac, peer_mac, b"to-guest" + bytes(60)))

        def from_tap(left):
            r, _, _ = select.select([tfd], [], [], max(left, 0))
            return os.read(tfd, 65536) if r else None
        got = recv_marker(from_tap, b"to-guest")
        check(got is not None, "peer0's frame did not reach the TAP")

        # The pod namespace's own stack sees nothing: eth0 keeps 10.77.0.2, but
        # ARP and ICMP for it go to the guest, so a ping from outside gets no
        # answer from the namespace, while the ARP request reaches the TAP.
        ip("addr", "add", "10.77.0.1/24", "dev", "peer0", ns=OUT)
        ping = subprocess.run(["ip", "netns", "exec", OUT, "ping", "-c", "1", "-W", "1",
                               "10.77.0.2"], capture_output=True)
        check(ping.returncode != 0, "the pod namespace's stack answered a ping through the redirect")
        got = recv_marker(from_tap, bytes([10, 77, 0, 2]))
        check(got is not None and got[VNET_HDR + 12:VNET_HDR + 14] == b"\x08\x06",
              "the ARP request for the pod IP did not reach the TAP")
        os.close(tfd)
        ps.close()

        r = s.tool("detach")
        check(r.returncode == 0, f"detach failed: {r.stderr}")
        links = ip("-o", "link", ns=POD)
        check(TAP not in links, f"TAP left: {links}")
        tcq = subprocess.run(["tc", "-n", POD, "qdisc", "show", "dev", "eth0"], capture_output=True,
                             text=True).stdout
        check("ingress" not in tcq, f"ingress qdisc left on eth0: {tcq}")
        r = s.tool("detach")
        check(r.returncode == 0, f"a second detach: {r.stderr}")
        ping = subprocess.run(["ip", "netns", "exec", OUT, "ping", "-c", "1", "-W", "5",
                               "10.77.0.2"], capture_output=True)
        check(ping.returncode == 0, "after detach the namespace's own eth0 does not answer")
        r = s.tool("attach")
        check(r.returncode == 0, f"attach after detach: {r.stderr}")
        r = s.tool("detach")
        check(r.returncode == 0, f"detach: {r.stderr}")


def test_attach_without_eth0_leaves_nothing():
    with Setup() as s:
        ip("link", "del", "eth0", ns=POD)
        r = s.tool("attach")
        check(r.returncode != 0 and "no interface 'eth0'" in r.stderr, f"attach: {r.stderr}")
        check(TAP not in ip("-o", "link", ns=POD), "TAP left after a failed attach")


def test_detach_with_the_netns_gone():
    with Setup() as s:
        subprocess.run(["ip", "netns", "delete", POD], check=True)
        r = s.tool("detach")
        check(r.returncode == 0, f"detach without the namespace: {r.stderr}")


if __name__ == "__main__":
    if os.geteuid() != 0 or not netns_usable() or not os.path.exists("/dev/net/tun"):
        skip("needs root, network namespaces and /dev/net/tun")
    main([test_redirect_both_ways, test_attach_without_eth0_leaves_nothing,
          test_detach_with_the_netns_gone])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""virtio-net end to end: the firmware talks ARP, ICMP and UDP with a host
end (a TAP in a network namespace this test creates). Traffic flows both
ways: the guest pings the host, the host pings the guest and runs a UDP
echo exchange through it."""
import subprocess
import textwrap

from harness import (FIRMWARE, RUN_TIMEOUT, VMM, NetNS, check, kvm_usable, main, netns_usable,
                     read_until, skip, start_vmm)

HOST_IP, GUEST_IP = "10.77.0.1", "10.77.0.2"

UDP_ECHO = textwrap.dedent(f"""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for i in range(20):
        msg = b"kvmlet-%d-" % i + bytes(range(256)) * (i % 5 + 1)
        s.sendto(msg, ("{GUEST_IP}", 7))
        data, peer = s.recvfrom(65536)
        if data != msg or peer[0] != "{GUEST_IP}":
            sys.exit(f"bad echo {{i}}: {{len(data)}} bytes from {{peer}}")
    s.sendto(b"quit", ("{GUEST_IP}", 7))
    print("udp echo ok")
""")


def test_traffic_both_ways():
    with NetNS("net", HOST_IP) as ns:
        p = start_vmm(["--kernel", FIRMWARE, "--memory", "256",
                       "--net", f"id=n0,tap={ns.tap},mac=52:54:00:12:34:56",
                       "--cmdline", f"kvmlet.test=net kvmlet.ip={GUEST_IP} kvmlet.peer={HOST_IP}"],
                      prefix=ns.prefix)
        try:
            seen = read_until(p, "net: ready")
            ping = ns.run("ping", "-c", "3", "-W", "2", GUEST_IP, check=False,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
            check(ping.returncode == 0, f"host could not ping the guest: {ping.stdout}")
            neigh = ns.run("ip", "neigh", "show", GUEST_IP, capture_output=True, text=True)
            check("52:54:00:12:34:56" in neigh.stdout, f"guest MAC not learned: {neigh.stdout}")
            echo = ns.run("python3", "-c", UDP_ECHO, check=False, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT)
            check(echo.returncode == 0, f"UDP echo failed: {echo.stdout} {echo.stderr}")
            out, err = p.communicate(timeout=RUN_TIMEOUT)
            seen += out
        finally:
            p.kill()
            p.wait()
        check("test net: PASS" in seen, f"guest reported: {seen} {err}")
        check(p.returncode == 0, f"exit code {p.returncode}: {err}")


def test_missing_tap_is_refused():
    with NetNS("bad", HOST_IP) as ns:
        # An existing interface that is not a TAP (the loopback) cannot be attached.
        r = subprocess.run([*ns.prefix, VMM, "--kernel", FIRMWARE, "--net", "id=n0,tap=lo"],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) == 1 and "n0" in lines[0],
              f"exit {r.returncode}: {r.stderr!r}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    if not netns_usable():
        skip("cannot create network namespaces here (needs root and iproute2)")
    main([test_traffic_both_ways, test_missing_tap_is_refused])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A hostile guest: the firmware sends malformed descriptor chains, requests
and register writes to every virtio device. Each must get the status the
spec prescribes or DEVICE_NEEDS_RESET, and the VMM must keep running and
serving the guest afterwards."""
import os
import re
import tempfile

from harness import (FIRMWARE, NetNS, check, kvm_usable, main, netns_usable, run_vmm,
                     skip)

MiB = 1 << 20


def test_malformed_requests_are_contained():
    tmp = tempfile.mkdtemp(prefix="kvmlet-hostile-")
    rw, ro = os.path.join(tmp, "rw.img"), os.path.join(tmp, "ro.img")
    for p in (rw, ro):
        with open(p, "wb") as f:
            f.truncate(8 * MiB)
    args = ["--kernel", FIRMWARE, "--memory", "256", "--rng",
            "--drive", f"id=rw,path={rw}", "--drive", f"id=ro,path={ro},readonly=on",
            "--cmdline", "kvmlet.test=hostile"]
    if netns_usable():
        with NetNS("hst", "10.78.0.1") as ns:
            code, out, err = run_vmm([*args, "--net", f"id=n0,tap={ns.tap}"], prefix=ns.prefix)
    else:
        code, out, err = run_vmm(args)
    cases = re.findall(r"^hostile \S+ \S+: .*$", out, re.M)
    check(len(cases) >= 10, f"too few hostile cases ran: {out}")
    # "hostile <device> <case>: <expected> ok (<what was seen>)" or "... FAIL (...)"
    bad = [c for c in cases if not re.search(r": [^()]* ok( \(|$)", c)]
    check(not bad, "unexpected device behaviour:\n" + "\n".join(bad))
    check("test hostile: PASS" in out and code == 0, f"exit {code}\n{out}\n{err}")
    check("needs reset" in err, f"the VMM did not log the protocol violations: {err}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([test_malformed_requests_are_contained])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boots the bundled firmware under kvmlet-vmm on real KVM with N vCPUs and
checks its self-tests (smp, irq, mem), its banner and the exit code.

usage: test_boot.py VCPUS [MEMORY_MIB]"""
import re
import sys

from harness import FIRMWARE, check, kvm_usable, main, run_vmm, skip

VCPUS = int(sys.argv[1])
MEMORY = int(sys.argv[2]) if len(sys.argv) > 2 else 256


def test_selftests_pass():
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--vcpus", str(VCPUS),
                              "--memory", str(MEMORY),
                              "--cmdline", "console=ttyS0 kvmlet.test=smp,irq,mem"])
    context = f"exit {code}\n--- serial ---\n{out}\n--- stderr ---\n{err}"
    m = re.search(r"^kvmlet-testguest: booted on (\d+) CPU\(s\), (\d+) MiB RAM$", out, re.M)
    check(m, f"no banner; {context}")
    check(int(m.group(1)) == VCPUS, f"guest saw {m.group(1)} CPUs, expected {VCPUS}; {context}")
    # The MP-table hole (EBDA/BIOS area) is reserved, so a little less than all RAM.
    check(MEMORY - 1 <= int(m.group(2)) <= MEMORY, f"guest saw {m.group(2)} MiB; {context}")
    for t in ("smp", "irq", "mem"):
        check(re.search(rf"^test {t}: PASS", out, re.M), f"test {t} did not pass; {context}")
    check(re.search(rf"^test smp: PASS \({VCPUS}/{VCPUS} ", out, re.M),
          f"not every CPU came up; {context}")
    for cpu in range(1, VCPUS):
        check(re.search(rf"^cpu {cpu} up \(apic {cpu}\)$", out, re.M),
              f"cpu {cpu} did not report in; {context}")
    check(out.rstrip().endswith("kvmlet-testguest: PASS"), f"no final PASS; {context}")
    check(code == 0, f"exit code {code}; {context}")
    check(re.search(r"guest boot time: \d+ us", err), f"no boot-timer line; {context}")


def test_failing_selftest_fails_the_vmm():
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--vcpus", str(VCPUS),
                              "--cmdline", "kvmlet.test=no-such-test"])
    check(code == 3, f"exit code {code}, expected 3 (guest failure); {out} {err}")
    check("kvmlet-testguest: FAIL" in out, f"no FAIL line: {out}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([test_selftests_pass, test_failing_selftest_fails_the_vmm])

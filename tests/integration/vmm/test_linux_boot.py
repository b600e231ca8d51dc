#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Boots Debian's kernel (linux-image-amd64, a bzImage) with a busybox-static
initramfs under kvmlet-vmm and waits for the marker its /init prints.

A stock kernel needs a host whose KVM runs unmodified guests at full speed
(kvm_intel or kvm_amd). On other hosts, such as paravirtual nested KVM, the
test prints SKIPPED with the reason."""
import glob
import os
import stat
import subprocess
import tempfile

from harness import check, kvm_usable, main, run_vmm, skip

MARKER = "KVMLET-LINUX-BOOT-OK"
VCPUS = 2
INIT = f"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "{MARKER} cpus=$(/bin/busybox nproc)"
/bin/busybox reboot -f
"""


def cpio_newc(entries):
    """entries: (name, mode, data, rdev) -> an uncompressed newc archive."""
    out = bytearray()

    def pad4():
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", 0)], 1):
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF,
                  len(name_b), 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields)
        out += name_b
        pad4()
        out += data
        pad4()
    return bytes(out)


def build_initramfs(path):
    with open("/bin/busybox", "rb") as f:
        busybox = f.read()
    d = stat.S_IFDIR | 0o755
    entries = [
        ("bin", d, b"", 0),
        ("dev", d, b"", 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5 << 8) | 1),
        ("proc", d, b"", 0),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox, 0),
        ("init", stat.S_IFREG | 0o755, INIT.encode(), 0),
    ]
    with open(path, "wb") as f:
        f.write(cpio_newc(entries))


def test_linux_boots_to_init():
    src = os.environ.get("KVMLET_SOURCE_DIR", ".")
    subprocess.run([os.path.join(src, "scripts/install-deps"), "--linux"], check=True)
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    check(kernels, "no /boot/vmlinuz-* after installing linux-image-amd64")
    initrd = os.path.join(tempfile.mkdtemp(prefix="kvmlet-linux-"), "initramfs.cpio")
    build_initramfs(initrd)
    code, out, err = run_vmm(["--kernel", kernels[-1], "--initrd", initrd,
                              "--vcpus", str(VCPUS), "--memory", "512",
                              "--cmdline", "console=ttyS0 reboot=k panic=-1 rdinit=/init"],
                             timeout=240)
    check(f"{MARKER} cpus={VCPUS}" in out,
          f"marker not seen (exit {code}); last output: {out[-2000:]!r} {err[-500:]!r}")
    # A reboot is a guest reset: exit status 6 (include/kvmlet/exit_codes.h).
    check(code == 6, f"exit code {code} after reboot -f, expected 6; stderr: {err.strip()!r}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    if not (os.path.exists("/sys/module/kvm_intel") or os.path.exists("/sys/module/kvm_amd")):
        skip("host KVM cannot run an unmodified Linux guest at full speed "
             "(neither kvm_intel nor kvm_amd is loaded; guest ring 0 would be emulated)")
    if not os.path.exists("/bin/busybox"):
        subprocess.run([os.path.join(os.environ.get("KVMLET_SOURCE_DIR", "."),
                                     "scripts/install-deps")], check=True)
    main([test_linux_boots_to_init])

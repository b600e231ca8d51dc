#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bad input to kvmlet-vmm: one clear error line, exit code 2, no crash,
nothing left behind (the --serial file is never created)."""
import os
import struct
import tempfile

from harness import FIRMWARE, check, elf64, kvm_usable, main, run_vmm, skip

TMP = tempfile.mkdtemp(prefix="kvmlet-badinput-")
SERIAL = os.path.join(TMP, "serial.out")
FAKE_API = os.environ.get("KVMLET_FAKE_KVM_API", "")
HLT = b"\xf4"


def write(name, data):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def expect_error(args, words, env=None, prefix=()):
    code, out, err = run_vmm(["--serial", f"file:{SERIAL}", *args], env=env, prefix=prefix)
    lines = err.strip().splitlines()
    check(code == 2, f"exit code {code}, expected 2; stderr: {err.strip()!r}")
    check(len(lines) == 1, f"expected one error line, got {lines!r}")
    check(lines[0].startswith("kvmlet-vmm: error: "), f"not an error line: {lines[0]!r}")
    for w in words if isinstance(words, (list, tuple)) else [words]:
        check(w in lines[0], f"{w!r} not in {lines[0]!r}")
    check(not os.path.exists(SERIAL), "serial output file was left behind")


def bzimage(version=0x20F, xloadflags=1, syssize=0x100, payload=4096, sects=1):
    img = bytearray(512 * (sects + 1) + payload)
    img[0x1F1] = sects
    struct.pack_into("<I", img, 0x1F4, syssize)
    struct.pack_into("<H", img, 0x1FE, 0xAA55)
    img[0x201] = 0x6A  # header length, as in real kernels
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, version)
    struct.pack_into("<H", img, 0x236, xloadflags)
    struct.pack_into("<I", img, 0x238, 2047)        # cmdline_size
    struct.pack_into("<Q", img, 0x258, 0x1000000)   # pref_address
    struct.pack_into("<I", img, 0x260, 0x100000)    # init_size
    return bytes(img)


def pvh(paddr=0x100000, data=HLT, memsz=None):
    return write("pvh.elf", elf64([(paddr, data, memsz or len(data))], paddr, pvh_entry=paddr))


def test_missing_kernel():
    expect_error(["--kernel", os.path.join(TMP, "nope")], ["cannot open kernel", "No such file"])


def test_empty_kernel():
    expect_error(["--kernel", write("empty", b"")], "kernel image is empty")


def test_truncated_elf():
    with open(FIRMWARE, "rb") as f:
        head = f.read(100)
    expect_error(["--kernel", write("trunc.elf", head)], "truncated")


def test_truncated_segment():
    img = elf64([(0x100000, HLT * 4096, 4096)], 0x100000, pvh_entry=0x100000)
    expect_error(["--kernel", write("seg.elf", img[:-3000])], "truncated")


def test_not_a_kernel():
    expect_error(["--kernel", write("text", b"hello, world\n" * 100)], "neither ELF nor bzImage")


def test_segment_outside_ram():
    expect_error(["--kernel", pvh(paddr=0xB0000000), "--memory", "128"], "outside guest RAM")


def test_segment_in_mmio_hole():
    expect_error(["--kernel", pvh(paddr=0xBFFFF000, memsz=0x2000), "--memory", "4096"],
                 "outside guest RAM")


def test_segment_over_boot_structures():
    expect_error(["--kernel", pvh(paddr=0x10000)], "boot structures")


def test_initrd_larger_than_ram():
    initrd = write("big.initrd", b"\0" * (8 << 20))
    expect_error(["--kernel", pvh(), "--memory", "4", "--initrd", initrd], "larger than guest RAM")


def test_initrd_overlaps_kernel():
    initrd = write("mid.initrd", b"\1" * (16 << 20))
    expect_error(["--kernel", pvh(memsz=120 << 20), "--memory", "128", "--initrd", initrd],
                 "overlaps the kernel")


def test_empty_initrd():
    expect_error(["--kernel", pvh(), "--initrd", write("empty.initrd", b"")], "initrd")


def test_cmdline_too_long_pvh():
    expect_error(["--kernel", pvh(), "--cmdline", "x" * 70000], ["command line", "70000"])


def test_cmdline_too_long_vmlinux():
    vmlinux = write("vmlinux", elf64([(0x1000000, HLT, 1)], 0x1000000))
    expect_error(["--kernel", vmlinux, "--cmdline", "y" * 2048], ["command line", "2047"])


def test_cmdline_too_long_bzimage():
    expect_error(["--kernel", write("bz", bzimage()), "--cmdline", "z" * 2048],
                 ["command line", "2047"])


def test_bzimage_truncated():
    expect_error(["--kernel", write("bz-trunc", bzimage(syssize=0x10000))], "truncated")


def test_bzimage_too_old():
    expect_error(["--kernel", write("bz-old", bzimage(version=0x206))], "too old")


def test_bzimage_no_64bit_entry():
    expect_error(["--kernel", write("bz-32", bzimage(xloadflags=0))], "64-bit")


def test_memory_zero():
    expect_error(["--kernel", pvh(), "--memory", "0"], "--memory")


def test_memory_more_than_host():
    expect_error(["--kernel", pvh(), "--memory", str(1 << 30)], "more than the host")


def test_vcpus_zero():
    expect_error(["--kernel", pvh(), "--vcpus", "0"], "--vcpus")


def test_vcpus_too_many():
    expect_error(["--kernel", pvh(), "--vcpus", "255"], "--vcpus")


def test_unknown_option():
    expect_error(["--kernel", pvh(), "--bogus"], ["unknown option", "--bogus"])


def test_missing_value():
    expect_error(["--kernel"], "needs a value")


def test_kvm_absent():
    env = dict(os.environ, KVMLET_KVM_DEVICE=os.path.join(TMP, "no-kvm"))
    expect_error(["--kernel", pvh()], "does not exist", env=env)


def test_kvm_not_a_kvm_device():
    env = dict(os.environ, KVMLET_KVM_DEVICE="/dev/null")
    expect_error(["--kernel", pvh()], "not a KVM device", env=env)


def test_kvm_not_permitted():
    if os.geteuid() != 0:
        skip("needs root to drop to an unprivileged user")
    kernel = pvh()
    os.chmod(TMP, 0o755)
    os.chmod(kernel, 0o644)
    expect_error(["--kernel", kernel], "no permission",
                 prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))


def test_kvm_wrong_api_version():
    check(FAKE_API and os.path.exists(FAKE_API), "fake KVM API shim not built")
    env = dict(os.environ, LD_PRELOAD=FAKE_API,
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    expect_error(["--kernel", pvh()], "API version", env=env)


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    if os.geteuid() != 0:
        tests.remove(test_kvm_not_permitted)
    main(tests)

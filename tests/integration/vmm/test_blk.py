#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""virtio-blk end to end: the firmware's blk self-test against real image
files, checked from both sides, plus start-up errors for bad images."""
import os
import signal
import subprocess
import tempfile

from harness import (FIRMWARE, RUN_TIMEOUT, check, kvm_usable, main, read_until, run_vmm,
                     skip, start_vmm)

TMP = tempfile.mkdtemp(prefix="kvmlet-blk-")
MiB = 1 << 20
CHUNK = 64 * 1024


def host_pattern():
    return bytes((i * 7 + 3) & 0xFF for i in range(CHUNK))


def guest_pattern():
    return bytes((i * 13 + 5) & 0xFF for i in range(CHUNK))


def make_image(name, size):
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(1 * MiB)
        f.write(host_pattern())
    return path


def read_at(path, off, n=CHUNK):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def boot(drives, test="blk", extra=()):
    args = ["--kernel", FIRMWARE, "--memory", "256", "--cmdline", f"kvmlet.test={test}"]
    for d in drives:
        args += ["--drive", d]
    return run_vmm([*args, *extra])


def passed(code, out, err):
    check(code == 0 and "test blk: PASS" in out, f"exit {code}\n{out}\n{err}")


def test_guest_and_host_see_each_others_data():
    img = make_image("rw.img", 64 * MiB)
    code, out, err = boot([f"id=d0,path={img},serial=KVMLET-SN-1"])
    passed(code, out, err)
    check("serial KVMLET-SN-1" in out, f"GET_ID serial not seen: {out}")
    check(read_at(img, 2 * MiB) == guest_pattern(), "guest data not at 2 MiB in the file")
    check(read_at(img, 64 * MiB - CHUNK) == guest_pattern(), "guest data not at the disk's end")
    check(read_at(img, 1 * MiB) == host_pattern(), "host pattern was damaged")


def test_disk_larger_than_4gib():
    size = 6 << 30
    img = make_image("big.img", size)
    code, out, err = boot([f"id=big,path={img}"])
    passed(code, out, err)
    check(f"capacity {size // 512} sectors" in out, f"capacity not reported right: {out}")
    check(read_at(img, size - CHUNK) == guest_pattern(), "guest data not at 6 GiB - 64 KiB")


def test_readonly_refuses_writes():
    img = make_image("ro.img", 16 * MiB)
    before = read_at(img, 0, 16 * MiB)
    code, out, err = boot([f"id=ro,path={img},readonly=on"])
    passed(code, out, err)
    check(", ro" in out, f"guest did not see a read-only disk: {out}")
    check(read_at(img, 0, 16 * MiB) == before, "a read-only image changed")


def test_two_disks():
    a, b = make_image("a.img", 8 * MiB), make_image("b.img", 8 * MiB)
    code, out, err = boot([f"id=a,path={a}", f"id=b,path={b}"])
    passed(code, out, err)
    for img in (a, b):
        check(read_at(img, 2 * MiB) == guest_pattern(), f"{img}: guest data missing")


def test_flushed_data_survives_sigkill():
    """A completed FLUSH means the data reached the host file: kill -9 the
    VMM right after the guest reports its flushed writes, then look."""
    img = make_image("kill.img", 16 * MiB)
    p = start_vmm(["--kernel", FIRMWARE, "--drive", f"id=d0,path={img}",
                   "--cmdline", "kvmlet.test=blk kvmlet.end=idle"])
    try:
        seen = read_until(p, "kvmlet-testguest: idle")
        check("test blk: PASS" in seen, f"blk test did not pass: {seen}")
        p.send_signal(signal.SIGKILL)
        p.wait(RUN_TIMEOUT)
    finally:
        p.kill()
        p.wait()
    check(read_at(img, 2 * MiB) == guest_pattern(), "flushed guest data lost after SIGKILL")


def expect_start_error(drive, words):
    code, out, err = run_vmm(["--kernel", FIRMWARE, "--drive", drive])
    lines = err.strip().splitlines()
    check(code == 2 and len(lines) == 1 and "error:" in lines[0],
          f"exit {code}, stderr {err!r}")
    for w in words:
        check(w in lines[0], f"{w!r} not in {lines[0]!r}")


def test_missing_image():
    expect_start_error(f"id=d0,path={TMP}/nope.img", ["d0", "nope.img"])


def test_image_not_multiple_of_512():
    path = os.path.join(TMP, "odd.img")
    with open(path, "wb") as f:
        f.write(b"\0" * 1000)
    expect_start_error(f"id=odd,path={path}", ["odd", "512"])


def test_unwritable_image():
    path = make_image("immutable.img", 1 * MiB)
    if subprocess.run(["chattr", "+i", path], capture_output=True).returncode != 0:
        print("note: chattr +i unsupported here; unwritable-image case not run")
        return
    try:
        expect_start_error(f"id=imm,path={path}", ["imm", "immutable.img"])
        # Read-only use of the same image is fine.
        code, out, err = boot([f"id=imm,path={path},readonly=on"], test="")
        check(code == 0, f"read-only open of an immutable image failed: {err}")
    finally:
        subprocess.run(["chattr", "-i", path])


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

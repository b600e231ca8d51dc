#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""--config-file: the firmware booted from Firecracker's JSON with a disk,
and every bad file refused with exit 2, one error line and nothing left
behind."""
import json
import os
import tempfile

from harness import FIRMWARE, check, kvm_usable, main, run_vmm, skip

TMP = tempfile.mkdtemp(prefix="kvmlet-cfgfile-")
MiB = 1 << 20
CHUNK = 64 * 1024


def make_image(name, size=16 * MiB):
    # The firmware's blk test expects this pattern at 1 MiB (see test_blk.py).
    path = os.path.join(TMP, name)
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(1 * MiB)
        f.write(bytes((i * 7 + 3) & 0xFF for i in range(CHUNK)))
    return path


def write(name, content):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def vm(test="blk", drives=(), **extra):
    cfg = {
        "boot-source": {"kernel_image_path": FIRMWARE, "boot_args": f"kvmlet.test={test}",
                        "initrd_path": None},
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": False,
                           "track_dirty_pages": False},
        "drives": list(drives),
        "network-interfaces": [],
        "vsock": None, "balloon": None, "logger": None, "metrics": None,
        "mmds-config": None,
    }
    cfg.update(extra)
    return cfg


def drive(drive_id, path, **extra):
    d = {"drive_id": drive_id, "path_on_host": path, "is_root_device": False,
         "is_read_only": False, "partuuid": None, "cache_type": "Unsafe",
         "io_engine": "Sync", "rate_limiter": None}
    d.update(extra)
    return d


def test_boots_with_a_drive():
    img = make_image("d0.img")
    code, out, err = run_vmm(["--config-file", write("ok.json", vm(drives=[drive("d0", img)]))])
    check(code == 0 and "test blk: PASS" in out, f"exit {code}\n{out}\n{err}")
    check("booted on 2 CPU(s)" in out, f"machine-config not applied: {out}")


def test_root_device_is_first_and_on_the_cmdline():
    data, root = make_image("data.img"), make_image("root.img")
    cfg = vm(drives=[drive("data", data), drive("rootfs", root, is_root_device=True)])
    code, out, err = run_vmm(["--config-file", write("root.json", cfg)])
    check(code == 0 and "test blk: PASS" in out, f"exit {code}\n{out}\n{err}")
    # The blk test runs on the first disk, which must be the root device.
    check("serial rootfs" in out, f"root device is not the first disk: {out}")


def test_host_plumbing_options_combine():
    img = make_image("serial.img")
    log = os.path.join(TMP, "console.log")
    code, out, err = run_vmm(["--serial", f"file:{log}", "--memory-backend", "memfd",
                              "--config-file", write("s.json", vm(drives=[drive("d0", img)]))])
    check(code == 0, f"exit {code}\n{err}")
    with open(log) as f:
        check("test blk: PASS" in f.read(), "serial file lacks the blk result")


def expect_refused(args, words, leftovers=()):
    code, out, err = run_vmm(args)
    lines = err.strip().splitlines()
    check(code == 2 and len(lines) == 1 and "error:" in lines[0],
          f"{args}: exit {code}, stderr {err!r}")
    for w in words:
        check(w in lines[0], f"{w!r} not in {lines[0]!r}")
    for p in leftovers:
        check(not os.path.exists(p), f"{p} was left behind")


def test_bad_files_are_refused():
    img = make_image("bad.img")
    uds = os.path.join(TMP, "v.sock")
    log = os.path.join(TMP, "never.log")
    vsock = {"guest_cid": 3, "uds_path": uds}
    cases = [
        ("missing", None, [f"{TMP}/missing.json", "No such file"]),
        ("dir", TMP, ["not a regular file"]),
        ("syntax", "{\n  \"boot-source\": {\n    \"kernel_image_path\": \"k\",\n  }\n}",
         ["invalid JSON at line 4"]),
        ("unknown", vm(vsock=vsock, foo=1), ["unknown field 'foo'"]),
        ("unsupported", vm(vsock=vsock, balloon={"amount_mib": 1, "deflate_on_oom": True}),
         ["balloon", "not supported"]),
        ("smt", vm(vsock=vsock, **{"machine-config": {"vcpu_count": 2, "mem_size_mib": 64,
                                                      "smt": True}}),
         ["machine-config.smt", "not supported"]),
        ("vcpus", vm(vsock=vsock, **{"machine-config": {"vcpu_count": 255,
                                                        "mem_size_mib": 64}}),
         ["machine-config.vcpu_count", "1 to 254"]),
        ("type", vm(drives=[drive("d0", img, is_read_only="yes")], vsock=vsock),
         ["drives[0].is_read_only", "true or false"]),
        ("required", vm(drives=[{"drive_id": "d0", "path_on_host": img}], vsock=vsock),
         ["drives[0]", "is_root_device"]),
        ("rate", vm(drives=[drive("d0", img, rate_limiter={"ops": {"size": 100,
                                                                  "refill_time": 1000}})],
                    vsock=vsock),
         ["drives[0].rate_limiter", "not supported"]),
        ("id", vm(drives=[drive("d 0", img)], vsock=vsock), ["drives[0]", "'d 0'"]),
        ("cid", vm(vsock={"guest_cid": 2, "uds_path": uds}), ["vsock.guest_cid"]),
        ("mac", vm(vsock=vsock, **{"network-interfaces": [
            {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "zz:00:00:00:00:00"}]}),
         ["network-interfaces[0].guest_mac"]),
        # A bad disk is found when the VM is built, also with a config file.
        ("image", vm(drives=[drive("d0", f"{TMP}/absent.img")]), ["d0", "absent.img"]),
    ]
    for name, content, words in cases:
        path = f"{TMP}/{name}.json" if content is None else (
            content if content == TMP else write(f"{name}.json", content))
        expect_refused(["--serial", f"file:{log}", "--config-file", path], words, [uds, log])


def test_mixing_with_vm_options_is_refused():
    path = write("mix.json", vm())
    for opt in (["--kernel", FIRMWARE], ["--vcpus", "2"], ["--drive", "id=a,path=b"],
                ["--rng"]):
        expect_refused(["--config-file", path, *opt],
                       ["--config-file cannot be combined with", opt[0]])
    expect_refused(["--config-file"], ["--config-file", "needs a value"])


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    main([v for k, v in sorted(globals().items()) if k.startswith("test_")])

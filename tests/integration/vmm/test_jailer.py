#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kvmlet-jailer end to end: a VM runs its blk, rng and net self-tests from
inside a jail (chroot, cgroup, network namespace, uid/gid 65534), checked
from the host while it runs; --new-pid-ns and --daemonize; the cgroup v2
hierarchy when this host has one beside v1; and bad arguments, which must
fail with exit 2 and one error line before anything is created.

Argument: the kvmlet-jailer binary."""
import ctypes
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

from harness import (FIRMWARE, RUN_TIMEOUT, VMM, Failure, check, kvm_usable, main, netns_usable,
                     read_until, skip)

JAILER = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-jailer"
BASE = tempfile.mkdtemp(prefix="kvmlet-jail-")
EXEC_NAME = os.path.basename(VMM)
NOBODY = 65534
HOST_IP, GUEST_IP = "10.78.0.1", "10.78.0.2"
MAC = "52:54:00:12:34:57"
MiB = 1 << 20
CHUNK = 64 * 1024
CGROOT = "/sys/fs/cgroup"

UDP_ECHO = textwrap.dedent(f"""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    for i in range(3):
        msg = b"jail-%d-" % i + bytes(range(256)) * (i + 1)
        s.sendto(msg, ("{GUEST_IP}", 7))
        data, peer = s.recvfrom(65536)
        if data != msg:
            sys.exit(f"bad echo {{i}}: {{len(data)}} bytes from {{peer}}")
    s.sendto(b"quit", ("{GUEST_IP}", 7))
""")


def host_pattern():
    return bytes((i * 7 + 3) & 0xFF for i in range(CHUNK))


def guest_pattern():
    return bytes((i * 13 + 5) & 0xFF for i in range(CHUNK))


def sanitized():
    """Sanitizer builds of the jailer give the jail a /proc (docs/jailer.md)."""
    with open(VMM, "rb") as f:
        return b"libasan.so" in f.read()


SANITIZED = sanitized()


def jailer_env():
    return dict(os.environ, KVMLET_JAIL_TEST_SECRET="must-not-reach-the-vmm")


def new_jail(tag):
    """A fresh id and its chroot directory with the firmware in it, as the caller
    of the jailer prepares it (paths given to the VMM are inside the jail)."""
    vm_id = f"{tag}-{os.getpid()}"
    root = os.path.join(BASE, EXEC_NAME, vm_id, "root")
    os.makedirs(root)
    shutil.copy(FIRMWARE, os.path.join(root, "kernel.elf"))
    return vm_id, root


def jailer_args(vm_id, *extra, vmm=()):
    return [JAILER, "--id", vm_id, "--exec-file", VMM, "--uid", str(NOBODY), "--gid",
            str(NOBODY), "--chroot-base-dir", BASE, *extra, "--", "--kernel", "/kernel.elf",
            "--memory", "256", *vmm]


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def become_subreaper():
    """Daemonized VMMs lose their parent: reparent them to this test, which reaps them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def wait_gone(pid, timeout=RUN_TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass  # not ours to reap
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def read_pid_file(root, timeout=10):
    path = os.path.join(root, f"{EXEC_NAME}.pid")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return int(text)
        time.sleep(0.05)
    raise Failure(f"{path} did not appear")


# --- cgroups: what this host offers ------------------------------------------

def fs_type(path):
    r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def v1_mounts():
    """controller -> mount point of each cgroup v1 hierarchy."""
    mounts = {}
    with open("/proc/mounts") as f:
        for line in f:
            dev, where, kind, opts = line.split()[:4]
            if kind == "cgroup":
                for o in opts.split(","):
                    mounts.setdefault(o, where)
    return mounts


def v2_controllers(mount):
    try:
        with open(os.path.join(mount, "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return []


class CgroupPlan:
    """The --cgroup values for the main test and how to check them, for the
    version the jailer will pick (the one mounted at /sys/fs/cgroup)."""

    def __init__(self):
        self.args, self.files, self.dirs, self.proc_lines = [], {}, [], []
        self.note = None
        if fs_type(CGROOT) == "cgroup2fs":
            have = v2_controllers(CGROOT)
            if "memory" in have and "cpu" in have:
                self.values = {"memory.max": "512M", "cpu.max": "200000 100000"}
                self.expect = {"memory.max": "536870912", "cpu.max": "200000 100000"}
                self.mounts = {"memory": CGROOT, "cpu": CGROOT}
                self.v2 = True
            else:
                self.note = f"cgroup v2 without memory and cpu controllers ({have})"
                return
        else:
            m = v1_mounts()
            if "memory" not in m or "cpu" not in m:
                self.note = "cgroup v1 memory or cpu controller not mounted"
                return
            self.values = {"memory.limit_in_bytes": "512M", "cpu.cfs_period_us": "100000",
                           "cpu.cfs_quota_us": "200000"}
            self.expect = {"memory.limit_in_bytes": "536870912", "cpu.cfs_period_us": "100000",
                           "cpu.cfs_quota_us": "200000"}
            self.mounts = {"memory": m["memory"], "cpu": m["cpu"]}
            self.v2 = False
        for k, v in self.values.items():
            self.args += ["--cgroup", f"{k}={v}"]

    def check(self, pid, vm_id):
        path = f"/kvmlet/{vm_id}"
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/cgroup") as f:
                lines = f.read().splitlines()
            for ctl in ("memory", "cpu"):
                want = [ln for ln in lines if ln.endswith(":" + path) and
                        (self.v2 and ln.startswith("0::") or
                         not self.v2 and ctl in ln.split(":")[1].split(","))]
                check(want, f"thread {task} not in {ctl}:{path}: {lines}")
        for key, value in self.expect.items():
            f = os.path.join(self.mounts[key.split(".")[0]], path.lstrip("/"), key)
            with open(f) as fh:
                got = fh.read().strip()
            check(got == value, f"{f} is {got!r}, expected {value!r}")

    def cleanup(self, vm_id):
        if self.note:
            return
        for mount in set(self.mounts.values()):
            remove_cgroup(mount, vm_id)


def remove_cgroup(mount, vm_id):
    leaf = os.path.join(mount, "kvmlet", vm_id)
    # A reaped VMM's io_uring workers may still be leaving the group.
    end = time.monotonic() + 10
    while os.path.exists(leaf) and time.monotonic() < end:
        try:
            os.rmdir(leaf)
        except OSError:
            time.sleep(0.05)
    try:
        os.rmdir(os.path.join(mount, "kvmlet"))  # unless another VM uses it
    except OSError:
        pass


# --- the network namespace --------------------------------------------------

class JailNetNS:
    """A network namespace with a persistent TAP that uid 65534 may attach to:
    the jailed VMM has no CAP_NET_ADMIN to create one."""

    def __init__(self):
        self.name = f"kvmlet-jail-{os.getpid()}"
        self.tap = f"kvj{os.getpid() % 1000000}"
        self.prefix = ("ip", "netns", "exec", self.name)
        self.path = f"/var/run/netns/{self.name}"

    def run(self, *cmd, check=True, **kw):
        return subprocess.run([*self.prefix, *cmd], check=check, **kw)

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self.run("ip", "link", "set", "lo", "up")
            self.run("ip", "tuntap", "add", "dev", self.tap, "mode", "tap", "vnet_hdr", "user",
                     str(NOBODY), "group", str(NOBODY))
            self.run("ip", "addr", "add", f"{HOST_IP}/24", "dev", self.tap)
            self.run("ip", "link", "set", self.tap, "up")
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


# --- tests ------------------------------------------------------------------

def check_jailed(pid, root, inherited):
    """What the host sees of a jailed VMM while it runs."""
    st = status_fields(pid)
    check(st["Uid"] == [str(NOBODY)] * 4 and st["Gid"] == [str(NOBODY)] * 4,
          f"uid/gid not dropped: Uid {st['Uid']} Gid {st['Gid']}")
    check(st.get("Groups", []) == [], f"supplementary groups left: {st['Groups']}")
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        check(int(st[cap][0], 16) == 0, f"{cap} is {st[cap][0]}")
    check(st["NoNewPrivs"] == ["1"], f"NoNewPrivs is {st['NoNewPrivs']}")

    # /proc/<pid>/root reads "/" from outside the mount namespace: compare inodes.
    jail, seen = os.stat(root), os.stat(f"/proc/{pid}/root/")
    check((jail.st_dev, jail.st_ino) == (seen.st_dev, seen.st_ino),
          f"the VMM's root is not {root}")
    names = os.listdir(f"/proc/{pid}/root/")
    check(EXEC_NAME in names and "etc" not in names and ("proc" not in names or SANITIZED),
          f"unexpected jail contents: {names}")
    for dev, (major, minor) in (("dev/kvm", (10, 232)), ("dev/net/tun", (10, 200))):
        s = os.stat(f"/proc/{pid}/root/{dev}")
        check(stat.S_ISCHR(s.st_mode) and (os.major(s.st_rdev), os.minor(s.st_rdev)) ==
              (major, minor) and stat.S_IMODE(s.st_mode) == 0o660 and
              (s.st_uid, s.st_gid) == (NOBODY, NOBODY), f"/{dev}: {s}")
    check(not os.path.exists(os.path.join(root, "dev", "kvm")),
          "the device nodes must not be on the host's disk")

    fds = os.listdir(f"/proc/{pid}/fd")
    targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds]
    check(inherited not in targets, f"an inherited descriptor reached the VMM: {targets}")
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = f.read()
    check(b"KVMLET_JAIL_TEST_SECRET" not in env, f"environment not cleared: {env!r}")
    with open(f"/proc/{pid}/limits") as f:
        nofile = [ln.split()[3:5] for ln in f if ln.startswith("Max open files")][0]
    check(nofile == ["1024", "1024"], f"no-file limit is {nofile}")


def make_disk(root):
    path = os.path.join(root, "disk.img")
    with open(path, "wb") as f:
        f.truncate(16 * MiB)
        f.seek(1 * MiB)
        f.write(host_pattern())
    os.chown(path, NOBODY, NOBODY)
    return path


def test_jailed_vm_runs_device_tests():
    plan = CgroupPlan()
    if plan.note:
        print(f"note: {plan.note}; cgroup limits not tested")
    vm_id, root = new_jail("dev")
    disk = make_disk(root)
    use_net = netns_usable()
    if not use_net:
        print("note: cannot create network namespaces here; --netns and virtio-net not tested")
    inherited_path = os.path.join(BASE, "inherited")
    inherited = os.open(inherited_path, os.O_CREAT | os.O_RDWR, 0o600)
    tests = "blk,rng,net" if use_net else "blk,rng"
    cmdline = f"kvmlet.test={tests} kvmlet.ip={GUEST_IP} kvmlet.peer={HOST_IP}"
    if not use_net:
        cmdline += " kvmlet.end=idle"

    ns = JailNetNS() if use_net else None
    try:
        if ns:
            ns.__enter__()
        extra = [*plan.args, "--resource-limit", "no-file=1024"]
        vmm = ["--drive", "id=d0,path=/disk.img", "--rng", "--cmdline", cmdline]
        if ns:
            extra += ["--netns", ns.path]
            vmm += ["--net", f"id=n0,tap={ns.tap},mac={MAC}"]
        p = subprocess.Popen(jailer_args(vm_id, *extra, vmm=vmm), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             errors="replace", env=jailer_env(), pass_fds=(inherited,))
        err = ""
        try:
            seen = read_until(p, "net: ready" if ns else "kvmlet-testguest: idle")
            # Without --new-pid-ns the jailer became the VMM.
            check(read_pid_file(root) == p.pid, "the pid file does not name the VMM")
            check_jailed(p.pid, root, inherited_path)
            if not plan.note:
                plan.check(p.pid, vm_id)
            if ns:
                check(os.stat(f"/proc/{p.pid}/ns/net").st_ino == os.stat(ns.path).st_ino,
                      "the VMM is not in the network namespace")
                ping = ns.run("ping", "-c", "2", "-W", "2", GUEST_IP, check=False,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
                check(ping.returncode == 0, f"could not ping the jailed guest: {ping.stdout}")
                echo = ns.run("python3", "-c", UDP_ECHO, check=False, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT)
                check(echo.returncode == 0, f"UDP echo failed: {echo.stdout} {echo.stderr}")
            else:
                p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=RUN_TIMEOUT)
            seen += out
        finally:
            p.kill()
            p.wait()
        for t in tests.split(","):
            check(f"test {t}: PASS" in seen, f"test {t} did not pass:\n{seen}\n{err}")
        want = 0 if ns else 128 + signal.SIGTERM
        check(p.returncode == want, f"exit code {p.returncode}, expected {want}: {err}")
        with open(disk, "rb") as f:
            f.seek(2 * MiB)
            check(f.read(CHUNK) == guest_pattern(), "the guest's writes are not in the drive")
    finally:
        os.close(inherited)
        if ns:
            ns.__exit__()
        plan.cleanup(vm_id)


def test_new_pid_ns_forwards_exit_status():
    vm_id, root = new_jail("pidns")
    r = subprocess.run(jailer_args(vm_id, "--new-pid-ns", vmm=["--cmdline", "kvmlet.test=smp"]),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=jailer_env())
    check(r.returncode == 0 and "test smp: PASS" in r.stdout,
          f"exit {r.returncode}: {r.stdout} {r.stderr}")
    check(read_pid_file(root) != os.getpid(), "no pid file")


def test_daemonize_in_new_pid_ns():
    vm_id, root = new_jail("daemon")
    serial = os.path.join(root, "serial.log")
    r = subprocess.run(jailer_args(vm_id, "--new-pid-ns", "--daemonize",
                                   vmm=["--serial", "file:/serial.log", "--cmdline",
                                        "kvmlet.test=smp kvmlet.end=idle"]),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=jailer_env())
    check(r.returncode == 0 and r.stdout == "" and r.stderr == "",
          f"exit {r.returncode}: {r.stdout} {r.stderr}")
    pid = read_pid_file(root)
    try:
        st = status_fields(pid)
        check(len(st["NSpid"]) == 2 and st["NSpid"][1] == "1",
              f"not init of a new PID namespace: NSpid {st['NSpid']}")
        with open(f"/proc/{pid}/stat") as f:
            sid = int(f.read().rsplit(")", 1)[1].split()[3])
        check(sid == pid, f"not a session leader: sid {sid}")
        for fd in (0, 1, 2):
            check(os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null", f"fd {fd} not /dev/null")
        end = time.monotonic() + RUN_TIMEOUT
        text = ""
        while "idle" not in text and time.monotonic() < end:
            time.sleep(0.05)
            if os.path.exists(serial):  # the VMM creates it once the VM is built
                with open(serial, errors="replace") as f:
                    text = f.read()
        check("test smp: PASS" in text, f"serial output: {text!r}")
    finally:
        gone = True
        try:
            os.kill(pid, signal.SIGTERM)
            gone = wait_gone(pid)
            if not gone:
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    check(gone, "the daemonized VMM did not stop on SIGTERM")


def test_cgroup_v2_beside_v1():
    """Hybrid hosts: --cgroup-version 2 uses the unified hierarchy, enabling
    the controller on the way down."""
    unified = os.path.join(CGROOT, "unified")
    if fs_type(CGROOT) == "cgroup2fs" or fs_type(unified) != "cgroup2fs":
        print("note: no hybrid cgroup layout; the v2 case is the main test's")
        return
    have = v2_controllers(unified)
    choices = [("pids", "pids.max", "100", "100"), ("memory", "memory.max", "512M", "536870912")]
    if os.path.exists("/sys/kernel/mm/hugepages/hugepages-2048kB"):
        choices.append(("hugetlb", "hugetlb.2MB.max", "0", "0"))
    pick = [c for c in choices if c[0] in have]
    if not pick:
        print(f"note: the v2 hierarchy has no controller to test with ({have})")
        return
    ctl, key, value, expect = pick[0]
    with open(os.path.join(unified, "cgroup.subtree_control")) as f:
        enabled_before = ctl in f.read().split()
    vm_id, root = new_jail("v2")
    p = subprocess.Popen(jailer_args(vm_id, "--cgroup-version", "2", "--cgroup", f"{key}={value}",
                                     vmm=["--cmdline", "kvmlet.test=smp kvmlet.end=idle"]),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, errors="replace", env=jailer_env())
    try:
        read_until(p, "kvmlet-testguest: idle")
        with open(f"/proc/{p.pid}/cgroup") as f:
            lines = f.read().splitlines()
        check(f"0::/kvmlet/{vm_id}" in lines, f"not in the v2 group: {lines}")
        with open(os.path.join(unified, "kvmlet", vm_id, key)) as f:
            got = f.read().strip()
        check(got == expect, f"{key} is {got!r}, expected {expect!r}")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=RUN_TIMEOUT)
        check(p.returncode == 128 + signal.SIGTERM, f"exit code {p.returncode}")
    finally:
        p.kill()
        p.wait()
        remove_cgroup(unified, vm_id)
        if not enabled_before:
            try:
                with open(os.path.join(unified, "cgroup.subtree_control"), "w") as f:
                    f.write(f"-{ctl}")
            except OSError:
                pass  # another test's group still uses it


def test_bad_arguments_exit_2_and_create_nothing():
    plan = CgroupPlan()
    notexec = os.path.join(BASE, "not-executable")
    with open(notexec, "w") as f:
        f.write("#!/bin/sh\n")
    base = os.path.join(BASE, "bad-base")
    ok = ["--exec-file", VMM, "--uid", str(NOBODY), "--gid", str(NOBODY),
          "--chroot-base-dir", base]
    cases = [
        (["--id", "bad/id", *ok], ["--id"]),
        (["--id", "x" * 65, *ok], ["--id"]),
        (["--id", "", *ok], ["--id"]),
        (["--id", "a", "--id", "b", *ok], ["--id", "twice"]),
        (["--id", "a", *ok[2:], "--exec-file", "/nonexistent/vmm"], ["--exec-file", "No such"]),
        (["--id", "a", *ok[2:], "--exec-file", notexec], ["--exec-file", "executable"]),
        (["--id", "a", *ok[2:], "--exec-file", BASE], ["--exec-file", "executable"]),
        (["--id", "a", *ok[:2], "--uid", "abc", "--gid", "1"], ["--uid"]),
        (["--id", "a", *ok[:2], "--uid", "0", "--gid", "1"], ["--uid", "root"]),
        (["--id", "a", *ok[:2], "--uid", "1", "--gid", "-1"], ["--gid"]),
        (["--id", "a", *ok[:4]], ["required"]),
        (["--id", "a", *ok, "--netns", "/var/run/netns/kvmlet-no-such-ns"], ["--netns", "No such"]),
        (["--id", "a", *ok, "--netns", "/etc/hostname"], ["--netns", "not a network namespace"]),
        (["--id", "a", *ok, "--cgroup", "nosuchctl.max=1"], ["nosuchctl"]),
        (["--id", "a", *ok, "--cgroup", "memory.max"], ["--cgroup", "FILE=VALUE"]),
        (["--id", "a", *ok, "--cgroup", "../memory.max=1"], ["--cgroup"]),
        (["--id", "a", *ok, "--cgroup", "memory.max=1\n2"], ["--cgroup", "one line"]),
        (["--id", "a", *ok, "--cgroup", "cgroup.procs=1"], ["--cgroup", "core"]),
        (["--id", "a", *ok, "--cgroup-version", "3"], ["--cgroup-version"]),
        (["--id", "a", *ok, "--parent-cgroup", "../x"], ["--parent-cgroup"]),
        (["--id", "a", *ok, "--resource-limit", "cpu=1"], ["--resource-limit"]),
        (["--id", "a", *ok, "--resource-limit", "no-file=lots"], ["--resource-limit"]),
        (["--id", "a", *ok[:-1], "relative/dir"], ["--chroot-base-dir", "absolute"]),
        (["--id", "a", *ok, "--bogus"], ["unknown option", "--bogus"]),
        (["--id", "a", *ok, "--kernel", "x"], ["unknown option"]),
        (["--id", "a", *ok, "stray"], ["unexpected argument", "--"]),
    ]
    if not plan.note:
        key = "memory.no_such_file"
        cases.append((["--id", "badkey", *ok, "--cgroup", f"{key}=1"],
                      ["--cgroup", key, "no such file"]))
    for args, words in cases:
        r = subprocess.run([JAILER, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) == 1 and
              lines[0].startswith("kvmlet-jailer: error: "),
              f"{args}: exit {r.returncode}, stderr {r.stderr!r}")
        for w in words:
            check(w in lines[0], f"{args}: {w!r} not in {lines[0]!r}")
        check(not os.path.exists(base), f"{args}: {base} was created")
    if not plan.note:
        leaf = os.path.join(plan.mounts["memory"], "kvmlet", "badkey")
        check(not os.path.exists(leaf), f"{leaf} left behind after a refused value")
        remove_cgroup(plan.mounts["memory"], "badkey")


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("the jailer needs root")
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    become_subreaper()
    try:
        main([test_bad_arguments_exit_2_and_create_nothing, test_jailed_vm_runs_device_tests,
              test_new_pid_ns_forwards_exit_status, test_daemonize_in_new_pid_ns,
              test_cgroup_v2_beside_v1])
    finally:
        shutil.rmtree(BASE, ignore_errors=True)
        while True:  # orphans handed to us as subreaper (sanitizer helper tasks)
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break

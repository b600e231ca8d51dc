#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The VM backend of kvmlet-agent (agent/vm) end to end, on real KVM: a VM
made from the firmware as a one-disk image, jailed by kvmlet-jailer in a
network namespace and a cgroup of its own, watched by kvmlet-shim. Driven by
kvmlet-vm-tool, one operation per process, so each step also shows that the
backend keeps nothing in memory and that VMs outlive whoever started them.

Checks: the console in the CRI log, exec through the guest agent, stats
against the cgroup files, a graceful stop's exit code and reason, mounts as
ISO disks (an escaping link left out), a start that fails with a clear
error, and that removal leaves no jail, mount, cgroup or state behind.

Arguments: kvmlet-vm-tool, kvmlet-jailer, kvmlet-shim."""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from harness import FIRMWARE, VMM, Failure, check, kvm_usable, main, netns_usable, skip

TOOL, JAILER, SHIM = (sys.argv[1:4] if len(sys.argv) >= 4 else
                      ("build/tests/integration/kvmlet-vm-tool", "build/jailer/kvmlet-jailer",
                       "build/agent/vm/kvmlet-shim"))
TAG = uuid.uuid4().hex[:8]
BASE = tempfile.mkdtemp(prefix=f"kvmlet-vm-{TAG}-")
STATE, JAIL, IMAGE = (os.path.join(BASE, d) for d in ("state", "jail", "image"))
LOGDIR = os.path.join(BASE, "pods", f"default_pod_{TAG}", "vm")
CONFIG = ",".join([STATE, JAIL, VMM, JAILER, SHIM, "900000", "8"])
CGTOP = f"kvmlet-test-{TAG}"
CGPARENT = f"/{CGTOP}/besteffort/pod{TAG}"  # nested, with kubelet's leading '/'

NETNS = f"kvmlet-vm-{TAG}"
CGROOT = "/sys/fs/cgroup"
TIMEOUT = 60


def vm_id(n):
    return f"{TAG}{n:056x}"


def tool(*args, ok=True, timeout=TIMEOUT, config=CONFIG):
    p = subprocess.run([TOOL, config, *args], capture_output=True, text=True, timeout=timeout,
                       errors="replace")
    if ok:
        check(p.returncode == 0, f"kvmlet-vm-tool {' '.join(args)}: exit {p.returncode}: "
                                 f"{p.stderr.strip()}")
        return json.loads(p.stdout)
    return p


def wait_for(what, cond, timeout=TIMEOUT):
    """Polls cond until it is true or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure(f"timed out waiting for {what}")
        time.sleep(0.05)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def make_image():
    os.makedirs(IMAGE)
    with open(FIRMWARE, "rb") as f, open(os.path.join(IMAGE, "kernel"), "wb") as k:
        k.write(f.read())
    os.chmod(os.path.join(IMAGE, "kernel"), 0o644)
    # A 64 MiB disk holding 1 MiB of data in the middle: its copy must stay sparse.
    with open(os.path.join(IMAGE, "disk.img"), "wb") as d:
        d.truncate(64 << 20)
        d.seek(32 << 20)
        d.write(b"\xa5" * (1 << 20))


def make_mount():
    """A ConfigMap as kubelet's atomic writer lays it out, plus a link out of it."""
    m = os.path.join(BASE, "configmap")
    ts = os.path.join(m, "..2026_12_08_00_00_00.000000001")
    os.makedirs(ts)
    with open(os.path.join(ts, "app.conf"), "w") as f:
        f.write("answer = 42\n")
    os.symlink(os.path.basename(ts), os.path.join(m, "..data"))
    os.symlink("..data/app.conf", os.path.join(m, "app.conf"))
    os.symlink("/etc/passwd", os.path.join(m, "escape"))
    return m


def jail_root(i):
    return os.path.join(JAIL, os.path.basename(VMM), i, "root")


def cgroup_dir(ctrl, i):
    return os.path.join(CGROOT, ctrl, CGPARENT.lstrip("/"), i)


def mounted(path):
    return any(line.split()[4] == path for line in read("/proc/self/mountinfo").splitlines())


def create(i, cmdline, log, *extra):
    # As kubelet gives it: its log_directory, and the CRI log_path beneath it.
    logdir = os.path.dirname(os.path.dirname(log))
    return tool("create", i, IMAGE, "kernel", cmdline, "--netns", f"/var/run/netns/{NETNS}",
                "--log-dir", logdir, "--log-rel", os.path.relpath(log, logdir), "--cgroup-parent", CGPARENT, "--memory", str(64 << 20),
                "--cpu", "50000/100000", "--disk", "disk.img", *extra)


LOOPS = []


def loop_device():
    """A block device for CRI devices: a loop device on a small file, or None."""
    img = os.path.join(BASE, "block.img")
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    p = subprocess.run(["losetup", "-f", "--show", img], capture_output=True, text=True)
    if p.returncode != 0:
        return None
    LOOPS.append(p.stdout.strip())
    return LOOPS[-1]


def test_lifecycle():
    i = vm_id(1)
    loop = loop_device()
    log = os.path.join(LOGDIR, "0.log")
    os.makedirs(LOGDIR, exist_ok=True)
    cmdline = "kvmlet.test=pod kvmlet.pod_tick_ms=200"
    create(i, cmdline, log, "--mount", f"{make_mount()}:/etc/config",
           "--annotation", "kvmlet.io/cloud-init-user-data=#cloud-config\n",
           *(["--device", f"{loop}:r"] if loop else []))
    root = jail_root(i)
    if loop:
        # The device as a node of the VM's own in the jail, read-only as asked.
        node, host = os.stat(os.path.join(root, "dev0")), os.stat(loop)
        # Root's node, the VM's by group: an owner could chmod it writable.
        check(node.st_rdev == host.st_rdev and node.st_uid == 0 and node.st_gid == 900000 and
              (node.st_mode & 0o7777) == 0o440, "the device node in the jail")
    else:
        print("note: no loop device here; the CRI device part is not exercised")
    st = tool("status", i)
    check(st["state"] == "CREATED" and st["vcpus"] == 1 and st["memory"] == 64 << 20,
          f"after create: {st}")
    # The disk copy is the VM's own, and sparse.
    disk = os.stat(os.path.join(root, "disk0.img"))
    check(disk.st_uid == 0 and disk.st_gid == 900000 and (disk.st_mode & 0o7777) == 0o660 and
          disk.st_size == 64 << 20 and disk.st_blocks * 512 < 8 << 20,
          f"disk copy: uid {disk.st_uid} size {disk.st_size} blocks {disk.st_blocks}")
    # The mount as an ISO 9660 disk (its contents: unit.vm_iso); the volume id names it.
    with open(os.path.join(root, "mount0.iso"), "rb") as f:
        f.seek(16 * 2048)
        pvd = f.read(2048)
    check(pvd[1:6] == b"CD001" and pvd[40:72].rstrip(b" ") == b"0_CONFIG",
          f"mount ISO volume descriptor: {pvd[:72]!r}")
    check(os.path.exists(os.path.join(root, "cidata.iso")), "no cloud-init disk")

    t0 = time.monotonic()
    tool("start", i)
    t_start = time.monotonic() - t0
    # The tool that started it has exited: the VM lives on, under a shim of its own session.
    st = tool("status", i)
    check(st["state"] == "RUNNING", f"after start: {st}")
    with open(os.path.join(STATE, i, "vm.json")) as f:
        shim = json.load(f)["shim_pid"]
    fields = read(f"/proc/{shim}/stat").rsplit(")", 1)[1].split()
    # Double fork: its parent is gone (init or a subreaper adopted it), its session is new.
    check(int(fields[1]) != os.getpid() and int(fields[3]) != os.getsid(0),
          f"kvmlet-shim {shim} is not detached in a session of its own: {fields[:4]}")
    # Out of the agent's cgroups (a restart of its systemd unit kills those): its own leaf
    # in every hierarchy, name=systemd and pids included; the VMM in the VM's group.
    groups = dict(line.split(":", 2)[1:] for line in read(f"/proc/{shim}/cgroup").splitlines())
    for h in ("name=systemd", "pids", "memory"):
        check(groups.get(h) == f"/kvmlet-shims/{i}", f"kvmlet-shim's {h} cgroup: {groups}")
    # The VMM (the shim's child) counts in the pod's pids group, not in the shim's.
    vmm = read(f"/proc/{shim}/task/{shim}/children").split()
    check(len(vmm) == 1, f"kvmlet-shim's children: {vmm}")
    vgroups = dict(line.split(":", 2)[1:] for line in read(f"/proc/{vmm[0]}/cgroup").splitlines())
    check(vgroups.get("pids") == f"{CGPARENT}/{i}", f"the VMM's pids cgroup: {vgroups}")
    # Beyond stdio only its own: the signalfd and the read end of the VMM's output pipe.
    fds = {fd: os.readlink(f"/proc/{shim}/fd/{fd}") for fd in os.listdir(f"/proc/{shim}/fd")}
    extra = sorted(t.split(":")[0] + (":signalfd" if "signalfd" in t else "")
                   for fd, t in fds.items() if fd not in ("0", "1", "2"))
    check(extra == ["anon_inode:signalfd", "pipe"],
          f"kvmlet-shim holds descriptors beyond stdio, signalfd and pipe: {fds}")
    check(os.stat(log).st_uid == 0 and os.stat(log).st_gid == 900000 and
          (os.stat(log).st_mode & 0o7777) == 0o620,
          "the CRI log is not root:<VM gid> 0620")
    check(mounted(os.path.join(root, "log")), "the log directory is not mounted in the jail")
    wait_for("the guest's banner in the CRI log", lambda: "pod ready" in read(log))
    print(f"measured: start {t_start * 1000:.0f} ms (API answering), banner in the log after "
          f"{(time.monotonic() - t0) * 1000:.0f} ms")
    first = read(log).splitlines()[0].split(" ", 3)
    check(len(first) == 4 and first[1] == "stdout" and first[2] in ("F", "P"),
          f"not a CRI log line: {first}")

    r = tool("exec", i, "10000", "4096", "echo", "hello", "vm")
    check(r["exit_code"] == 0 and r["stdout"] == "hello vm\n", f"exec echo: {r}")
    r = tool("exec", i, "10000", "3", "echo", "hello", "vm")
    check(r["stdout"] == "hel", f"exec output not capped: {r}")

    # Stats against the cgroup files, read around them.
    cpu0 = int(read(os.path.join(cgroup_dir("cpuacct", i), "cpuacct.usage")))
    s = tool("stats", i)
    cpu1 = int(read(os.path.join(cgroup_dir("cpuacct", i), "cpuacct.usage")))
    usage = int(read(os.path.join(cgroup_dir("memory", i), "memory.usage_in_bytes")))
    check(0 < cpu0 <= s["cpu_ns"] <= cpu1, f"cpu {cpu0} <= {s['cpu_ns']} <= {cpu1}")
    check(0 < s["working_set"] <= s["usage"] and abs(s["usage"] - usage) < 16 << 20,
          f"memory: {s} vs {usage}")
    print(f"measured: the VM's cgroup holds {usage / (1 << 20):.1f} MiB "
          f"(working set {s['working_set'] / (1 << 20):.1f} MiB) for 64 MiB of guest RAM")
    check(0 < s["disk_bytes"] < 8 << 20 and s["disk_inodes"] == 1, f"disk: {s}")
    limit = int(read(os.path.join(cgroup_dir("memory", i), "memory.limit_in_bytes")))
    check(limit == (64 + 64) << 20, f"memory limit {limit}")
    quota = int(read(os.path.join(cgroup_dir("cpu", i), "cpu.cfs_quota_us")))
    check(quota == 50000, f"cpu quota {quota}")
    p = tool("sandbox-stats", CGPARENT)
    check(p["cpu_ns"] >= s["cpu_ns"], f"pod stats {p} below the VM's {s}")

    os.rename(log, log + ".1")
    tool("reopen", i)
    check(os.path.exists(log) and os.stat(log).st_gid == 900000 and os.stat(log).st_uid == 0,
          "no new log after reopen")
    # The guest's ticks go on in the new file, as CRI log lines.
    line = wait_for("a tick in the reopened log",
                    lambda: next((l for l in read(log).splitlines() if " tick " in l), None))
    check(line.split(" ")[1:3] == ["stdout", "F"], f"reopened log line: {line!r}")

    t0 = time.monotonic()
    tool("stop", i, "20")
    took = time.monotonic() - t0
    st = tool("status", i)
    # The pod firmware powers off on Ctrl+Alt+Del: exit 0, well within the grace.
    check(st["state"] == "EXITED" and st["exit_code"] == 0 and st["reason"] == "Completed",
          f"after a graceful stop: {st}")
    check(took < 15, f"the graceful stop took {took:.1f} s")
    check(st["finished_at"] >= st["started_at"] > 0, f"timestamps: {st}")
    tool("stop", i, "5")  # idempotent

    tool("remove", i)
    check(not os.path.exists(os.path.dirname(root)), "the jail is left behind")
    check(not os.path.exists(os.path.join(STATE, i)), "the state is left behind")
    check(not mounted(os.path.join(root, "log")), "the log mount is left behind")
    for ctrl in ("memory", "cpu", "cpuacct", "pids"):
        check(not os.path.exists(cgroup_dir(ctrl, i)), f"the {ctrl} cgroup is left behind")
    check(os.path.exists(log), "removal took kubelet's log file")
    tool("remove", i)  # idempotent
    check(not os.path.exists(os.path.join(CGROOT, "systemd", "kvmlet-shims", i)),
          "kvmlet-shim's own cgroup is left after remove")
    check(tool("status", i, ok=False).returncode == 1, "status of a removed VM")


def test_failed_start():
    """A kernel the VMM refuses: start fails with the VMM's words, the VM is EXITED."""
    i = vm_id(2)
    with open(os.path.join(IMAGE, "bad"), "wb") as f:
        f.write(b"not a kernel")
    os.chmod(os.path.join(IMAGE, "bad"), 0o644)
    tool("create", i, IMAGE, "bad", "", "--cgroup-parent", CGPARENT)
    p = tool("start", i, ok=False)
    check(p.returncode == 1 and "kernel" in p.stderr.lower(), f"start: {p.stderr}")
    st = tool("status", i)
    check(st["state"] == "EXITED" and st["exit_code"] == 2 and st["reason"] == "Error",
          f"after a failed start: {st}")
    tool("remove", i)
    check(tool("list")["ids"] == [], "VMs left over")


def test_no_agent():
    """A guest without an agent: exec is a clear error; a stop past its grace kills it."""
    i = vm_id(4)
    create(i, "kvmlet.end=idle", os.path.join(LOGDIR, "noagent.log"))
    tool("start", i)
    wait_for("the idle guest", lambda: "idle" in read(os.path.join(LOGDIR, "noagent.log")))
    p = tool("exec", i, "5000", "100", "echo", "hi", ok=False)
    check(p.returncode == 1 and "error 107" in p.stderr and
          "no agent on vsock port 1024" in p.stderr, f"exec without an agent: {p.stderr}")
    tool("stop", i, "1")
    st = tool("status", i)
    check(st["state"] == "EXITED" and st["exit_code"] == 137 and st["reason"] == "Error" and
          "grace period" in st["message"], f"after a stop past its grace: {st}")
    tool("remove", i)


def test_shim_killed():
    """The monitor dies without recording the end: Unknown, and stop ends the orphan VMM."""
    i = vm_id(5)
    create(i, "kvmlet.end=idle", os.path.join(LOGDIR, "orphan.log"))
    tool("start", i)
    with open(os.path.join(STATE, i, "vm.json")) as f:
        shim = json.load(f)["shim_pid"]
    procs = os.path.join(cgroup_dir("memory", i), "cgroup.procs")
    os.kill(shim, 9)
    wait_for("the shim to go", lambda: not os.path.exists(f"/proc/{shim}") or
             read(f"/proc/{shim}/stat").rsplit(")", 1)[1].split()[0] == "Z")
    check(read(procs).strip() != "", "the VMM died with its shim")
    t_lost = time.time_ns()
    st = tool("status", i)
    check(st["state"] == "EXITED" and st["exit_code"] == 255 and st["reason"] == "Unknown",
          f"after the shim was killed: {st}")
    # EXITED only once the orphan VMM is gone: kubelet's next attempt gets its disks.
    check(read(procs).strip() == "", "EXITED while the orphan VMM still runs in its cgroup")
    check(st["finished_at"] >= t_lost, f"finished_at {st['finished_at']} before the loss {t_lost}")
    check(tool("status", i)["finished_at"] == st["finished_at"], "finished_at moves")
    tool("stop", i, "0")
    tool("remove", i)


def test_guest_ends():
    """Guests that end by themselves: a triple fault, and one that outgrows its cgroup."""
    i = vm_id(6)
    create(i, "kvmlet.end=triple-fault", os.path.join(LOGDIR, "crash.log"))
    tool("start", i)
    st = wait_for("the crashed guest", lambda: (s := tool("status", i))["state"] == "EXITED" and s)
    check(st["exit_code"] == 4 and st["reason"] == "GuestCrashed", f"a triple fault: {st}")
    tool("remove", i)

    # A reset nobody asked for (Linux's panic=N reboot) is no success.
    create(i, "kvmlet.end=reset", os.path.join(LOGDIR, "reset.log"))
    tool("start", i)
    st = wait_for("the reset guest", lambda: (s := tool("status", i))["state"] == "EXITED" and s)
    check(st["exit_code"] == 6 and st["reason"] == "GuestReset", f"a guest reset: {st}")
    tool("remove", i)
    # ... but when StopContainer sent Ctrl+Alt+Del, a reset (as Linux answers it) is the stop.
    log = os.path.join(LOGDIR, "kbd.log")
    create(i, "kvmlet.test=kbd kvmlet.end=reset", log)
    tool("start", i)
    wait_for("the guest waiting for Ctrl+Alt+Del", lambda: "kbd: waiting" in read(log))
    tool("stop", i, "20")
    st = tool("status", i)
    check(st["state"] == "EXITED" and st["exit_code"] == 0 and st["reason"] == "Completed",
          f"a reset after StopContainer: {st}")
    tool("remove", i)

    # Touching all of its 128 MiB with 1 MiB for the VMM itself: the cgroup's OOM killer.
    i = vm_id(7)
    tight = CONFIG + ",1"
    tool("create", i, IMAGE, "kernel", "kvmlet.test=mem kvmlet.end=idle", "--cgroup-parent",
         CGPARENT, "--memory", str(128 << 20), config=tight)
    tool("start", i, config=tight, ok=False)  # it may die before its API answers
    st = wait_for("the OOM kill", lambda: (s := tool("status", i))["state"] == "EXITED" and s)
    check(st["exit_code"] == 137 and st["reason"] == "OOMKilled", f"out of memory: {st}")
    tool("remove", i)


def test_shim_bounds_vmm_log():
    """A VMM that floods its stderr: vmm.log keeps only the last 64 KiB, the end survives."""
    state = os.path.join(BASE, "shim-flood")
    os.makedirs(state)
    flood = "head -c 5000000 /dev/zero | tr '\\0' x >&2; echo; echo the-last-line >&2; exit 3"
    p = subprocess.run([SHIM, "--state-dir", state, "--cgroup-version", "1", "--cgroup",
                        f"{CGTOP}-none", "--", "/bin/sh", "-c", flood],
                       capture_output=True, text=True, timeout=TIMEOUT)
    check(p.returncode == 0, f"kvmlet-shim: exit {p.returncode}: {p.stderr}")
    size = os.path.getsize(os.path.join(state, "vmm.log"))
    check(0 < size <= 64 << 10, f"vmm.log holds {size} bytes of a 5 MB flood")
    check(read(os.path.join(state, "vmm.log")).endswith("the-last-line\n"),
          "vmm.log lost the end of the output")
    with open(os.path.join(state, "exit.json")) as f:
        check(json.load(f)["exit_status"] == 3, "the exit status did not come through")
    for h in os.listdir(CGROOT):
        try:
            os.rmdir(os.path.join(CGROOT, h, "kvmlet-shims", f"{CGTOP}-none"))
        except OSError:
            pass


def test_bad_requests():
    p = tool("create", vm_id(3), IMAGE, "kernel", "", "--annotation", "kvmlet.io/nope=1", ok=False)
    check(p.returncode == 1 and "kvmlet.io/nope" in p.stderr and "error 22" in p.stderr,
          f"unknown annotation: {p.stderr}")
    p = tool("create", vm_id(3), IMAGE, "kernel", "", "--memory", "1048576", ok=False)
    check(p.returncode == 1 and "error 22" in p.stderr, f"1 MiB of RAM: {p.stderr}")
    p = tool("create", "../x", IMAGE, "kernel", "", ok=False)
    check(p.returncode == 1 and "error 22" in p.stderr, f"bad id: {p.stderr}")
    p = tool("create", vm_id(3), IMAGE, "../../etc/passwd", "", ok=False)
    check(p.returncode == 1 and "error 22" in p.stderr, f"kernel outside the image: {p.stderr}")
    p = tool("create", vm_id(3), IMAGE, "kernel", "", "--log-dir", LOGDIR, "--log-rel",
             "../../x.log", ok=False)
    check(p.returncode == 1 and "error 22" in p.stderr, f"log path with '..': {p.stderr}")
    p = tool("create", vm_id(3), IMAGE, "kernel", "", "--log", "/0.log", ok=False)
    check(p.returncode == 1 and "error 22" in p.stderr, f"log path '/0.log': {p.stderr}")
    check(tool("list")["ids"] == [], "a refused create left a VM behind")
    # A create cut short by a crash (no vm.json yet) is cleaned up when the backend opens.
    i = vm_id(3)
    os.makedirs(os.path.join(STATE, i))
    os.makedirs(jail_root(i))
    tool("list")
    check(not os.path.exists(os.path.join(STATE, i)) and
          not os.path.exists(os.path.dirname(jail_root(i))), "an unfinished create is left")


def cleanup():
    for n in (1, 2, 3, 4, 5, 6, 7):
        tool("remove", vm_id(n), ok=False)
    for ctrl in ("memory", "cpu", "cpuacct", "pids"):
        for d in (CGPARENT.lstrip("/"), f"{CGTOP}/besteffort", CGTOP):
            try:
                os.rmdir(os.path.join(CGROOT, ctrl, d))
            except OSError:
                pass
    for h in os.listdir(CGROOT):  # the shims' parent, if no other VM's shim is in it
        try:
            os.rmdir(os.path.join(CGROOT, h, "kvmlet-shims"))
        except OSError:
            pass
    subprocess.run(["ip", "netns", "delete", NETNS], check=False, capture_output=True)
    for loop in LOOPS:
        subprocess.run(["losetup", "-d", loop], check=False)
    subprocess.run(["rm", "-rf", BASE], check=False)


if __name__ == "__main__":
    if os.geteuid() != 0:
        skip("needs root (jailer, cgroups, mounts)")
    if not kvm_usable():
        skip("no usable /dev/kvm")
    if not netns_usable():
        skip("cannot create network namespaces")
    if not os.path.isdir(os.path.join(CGROOT, "memory")):
        skip("the test reads cgroup v1 files; this host has no v1 memory hierarchy")
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    make_image()
    try:
        main([test_shim_bounds_vmm_log, test_bad_requests, test_lifecycle, test_no_agent, test_shim_killed,
              test_guest_ends, test_failed_start])
    finally:
        cleanup()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kill -9 of kvmlet-agent under load, with 10 VM pods running.

Ten pods (the firmware in pod mode, 64 MiB of guest RAM each through the
container memory limit) are started the way kubelet starts them. A client
thread hammers ListPodSandbox, ListContainers, PodSandboxStatus,
ContainerStatus, Status and ExecSync. Once it has made calls against the
live agent, the agent gets SIGKILL; while it is down one VMM is killed
too. Then the agent starts again on the same root, and:

- every sandbox and container is there with the same id, metadata,
  labels, annotations and created_at, nothing duplicated, nothing new;
- the nine other VMs never stopped: the same VMM processes, their CRI
  logs kept (not truncated, not recreated) and still growing with one
  unbroken "tick <n>" sequence (the guest prints one every 200 ms: a
  reboot would start again at 1, a lost stretch would leave a gap), and
  ExecSync `echo` answers in each;
- the VM killed while the agent was down shows CONTAINER_EXITED with exit
  code 137 (SIGKILL), reason "Error" and finished_at;
- the hammering client's calls succeed again after the restart.

Usage: test_agent_restart.py PATH-TO-kvmlet-agent PATH-TO-kvmlet-image"""
import atexit
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from harness import FIRMWARE, Failure, check, kvm_usable, main, skip
import cri_client
import kubelet
import kvmlet_agent
import registry

cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE_TOOL = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
PODS = 10
TMP = tempfile.mkdtemp(prefix="kvmlet-restart-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
API = cri_client.load_api()
CGROUP_ROOT = f"/kvmlet-restart-{os.getpid()}"
atexit.register(kubelet.remove_cgroups, CGROUP_ROOT)

if registry.available():
    skip(registry.available())
if not kvm_usable():
    skip("/dev/kvm is not usable")
if not os.path.exists(FIRMWARE):
    skip(f"{FIRMWARE} is missing")

REG = registry.Registry(TMP).start()
atexit.register(REG.stop)
AG = kvmlet_agent.Agent(AGENT, os.path.join(TMP, "agent"), insecure=[REG.host]).start(API)
atexit.register(kvmlet_agent.remove_all_pods, AG, API, CGROUP_ROOT)
if kvmlet_agent.pods_missing(AG.client, API):
    skip(kvmlet_agent.pods_missing(AG.client, API))
# The guest prints "tick <n>" every TICK_MS: a VM that never stopped shows
# one unbroken sequence in its CRI log across the agent's restart.
TICK_MS = 200
POD_REF = kvmlet_agent.push_pod_image(IMAGE_TOOL, FIRMWARE, TMP, REG.host, tag="ticks",
                                      extra_cmdline=f"kvmlet.pod_tick_ms={TICK_MS}")
NODE = os.path.join(TMP, "node")


class Hammer(threading.Thread):
    """Calls in a loop on its own channel; counts answers by code."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.codes = {}
        self.ok_since = 0  # successful calls since reset_ok()

    def count(self, code):
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1
            if code == "OK":
                self.ok_since += 1

    def reset_ok(self):
        with self.lock:
            self.ok_since = 0

    def oks(self):
        with self.lock:
            return self.ok_since

    def run(self):
        c = cri_client.CriClient(self.sock, API)
        try:
            while not self.stop_ev.is_set():
                self.round(c)
        finally:
            c.close()

    def round(self, c):
        def one(method, req=None, timeout=5):
            try:
                r = c.runtime(method, req, timeout=timeout)
                self.count("OK")
                return r
            except grpc.RpcError as e:
                self.count(e.code().name)
                return None
        sbs = one("ListPodSandbox")
        cs = one("ListContainers")
        one("Status")
        for s in (sbs.items[:3] if sbs else []):
            one("PodSandboxStatus", API.PodSandboxStatusRequest(pod_sandbox_id=s.id))
        for x in (cs.containers[:3] if cs else []):
            one("ContainerStatus", API.ContainerStatusRequest(container_id=x.id))
            if x.state == API.CONTAINER_RUNNING:
                one("ExecSync", API.ExecSyncRequest(container_id=x.id, cmd=["echo", "x"],
                                                    timeout=5), timeout=10)
        if sbs is None:  # the agent is down: do not spin on refused connects
            self.stop_ev.wait(0.05)


def snapshot(client):
    sbs = client.runtime("ListPodSandbox").items
    cs = client.runtime("ListContainers").containers
    return ({s.id: (s.state, s.metadata.SerializeToString(deterministic=True),
                    sorted(s.labels.items()), sorted(s.annotations.items()), s.created_at)
             for s in sbs},
            {c.id: (c.state, c.metadata.SerializeToString(deterministic=True),
                    c.pod_sandbox_id, sorted(c.labels.items()),
                    sorted(c.annotations.items()), c.created_at)
             for c in cs},
            len(sbs), len(cs))


def ticks(path):
    """The tick numbers in a CRI log, and how many banners it holds."""
    lines = kubelet.read_cri_log(path)
    nums = [int(c.split()[1]) for _, _, tag, c in lines
            if tag == "F" and c.startswith("tick ") and c.split()[1].isdigit()]
    return nums, sum(kvmlet_agent.POD_BANNER in c for _, _, _, c in lines)


def dead(pid):
    """Whether pid has exited (gone, or a zombie its shim has not reaped yet)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" in f.read()
    except FileNotFoundError:
        return True


def wait_until(cond, what, deadline_s):
    end = time.monotonic() + deadline_s
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(what)
        time.sleep(0.05)  # polling interval, not a synchronisation


def test_kill9_under_load():
    kl = kubelet.Kubelet(AG.client, API, NODE, CGROUP_ROOT, runtime_handler="kvmlet")
    pods = []
    for i in range(PODS):
        p = kubelet.PodSpec(f"restart-{i}", namespace="kvmlet-restart",
                            labels={"index": str(i)},
                            containers=[kubelet.ContainerSpec("main", POD_REF,
                                                              memory_limit=64 << 20)],
                            grace=10)
        sid, cfg = kl.run_pod(p)
        cid = kl.start_container(p, sid, cfg, p.containers[0])
        pods.append((p, sid, cid))
    logs = {}
    for p, sid, cid in pods:
        kl.wait_state(p, cid, API.CONTAINER_RUNNING)
        path = os.path.join(kl.pod_log_dir(p), "main", "0.log")
        kubelet.wait_log_line(path, kvmlet_agent.POD_BANNER)
        st = os.stat(path)
        logs[cid] = (path, st.st_ino, st.st_size)
    before = snapshot(AG.client)
    check(before[2] == PODS and before[3] == PODS, f"{before[2]} sandboxes, {before[3]} "
          "containers before the kill")
    vmms = kvmlet_agent.vmm_pids(CGROUP_ROOT)
    check(len(vmms) >= PODS, f"{len(vmms)} kvmlet-vmm processes for {PODS} pods")

    for cid, (path, _, _) in logs.items():
        wait_until(lambda: ticks(path)[0], f"{path}: no tick", 30)
    hammer = Hammer(AG.sock)
    hammer.start()
    try:
        wait_until(lambda: hammer.oks() >= 50, "the hammer made no calls", 60)
        gone = set(vmms) - set(kvmlet_agent.vmm_pids(CGROUP_ROOT))
        if gone:  # a VM ended under load alone, before anything was killed
            sts = [AG.client.runtime("ContainerStatus", API.ContainerStatusRequest(
                container_id=cid)).status for _, _, cid in pods]
            raise Failure(f"VMMs {gone} ended before the agent was killed: " + "; ".join(
                f"{st.id[:12]} {API.ContainerState.Name(st.state)} {st.exit_code} "
                f"{st.reason} {st.message!r}" for st in sts
                if st.state != API.CONTAINER_RUNNING) + f"\n{AG.log_text()}")
        AG.kill9()
        last_tick = {cid: ticks(path)[0][-1] for cid, (path, _, _) in logs.items()}
        # One VM dies while the agent is away.
        victim_pid = next(iter(sorted(vmms)))
        os.kill(victim_pid, signal.SIGKILL)
        wait_until(lambda: dead(victim_pid), "the killed VMM did not die", 10)
        survivors = {pid for pid in vmms if pid != victim_pid}
        AG.start(API)
        kl.c = AG.client  # kubelet reconnects
        hammer.reset_ok()
        wait_until(lambda: hammer.oks() >= 50, "the hammer got no answers after the restart",
                   60)
    finally:
        hammer.stop_ev.set()
        hammer.join(30)

    after = snapshot(AG.client)
    check(after[2] == PODS and after[3] == PODS,
          f"{after[2]} sandboxes, {after[3]} containers after the restart (duplicates or losses)")
    check(set(after[0]) == set(before[0]), "sandbox ids changed")
    check(set(after[1]) == set(before[1]), "container ids changed")
    for sid, b in before[0].items():
        check(after[0][sid] == b, f"sandbox {sid[:12]}: {b} became {after[0][sid]}")
    exited = [cid for cid, a in after[1].items() if a[0] == API.CONTAINER_EXITED]
    check(len(exited) == 1, f"{len(exited)} containers EXITED after one VM was killed: "
          f"{[(c[:12], after[1][c][0]) for c in after[1]]}")
    for cid, b in before[1].items():
        a = after[1][cid]
        check(a[1:] == b[1:], f"container {cid[:12]}: {b[1:]} became {a[1:]}")
        if cid != exited[0]:
            check(a[0] == API.CONTAINER_RUNNING, f"container {cid[:12]} state {a[0]}")
    st = AG.client.runtime("ContainerStatus",
                           API.ContainerStatusRequest(container_id=exited[0])).status
    # docs/cri.md "Exit codes and reasons": signal N is 128 + N, "Error".
    check(st.exit_code == 128 + signal.SIGKILL and st.reason == "Error" and
          st.finished_at > st.started_at > 0,
          f"the killed VM: exit {st.exit_code} finished_at {st.finished_at} reason {st.reason!r}")
    alive = set(kvmlet_agent.vmm_pids(CGROUP_ROOT))
    check(survivors <= alive, f"VMMs that died with the agent: {survivors - alive}")
    for cid, (path, ino, size) in logs.items():
        s = os.stat(path)
        check(s.st_ino == ino and s.st_size >= size, f"{path}: recreated or truncated")
        if cid == exited[0]:
            continue
        # the guest keeps writing: ticks beyond those seen at the kill
        wait_until(lambda: ticks(path)[0] and ticks(path)[0][-1] > last_tick[cid] + 3,
                   f"{path}: no new ticks after the restart", 30)
        nums, banners = ticks(path)
        check(banners == 1 and nums == list(range(1, len(nums) + 1)),
              f"{path}: {banners} banners, ticks not one sequence: {nums[:5]}...{nums[-5:]}")
        r = AG.client.runtime("ExecSync", API.ExecSyncRequest(
            container_id=cid, cmd=["echo", "alive"], timeout=5), timeout=30)
        check(r.exit_code == 0 and r.stdout == b"alive\n", f"{cid[:12]}: exec {r}")
    print(f"hammer answers by code: {hammer.codes}")

    for p, sid, cid in pods:
        kl.kill_pod(p, sid, grace=10)
        kl.gc_pod(p, sid)
    check(not AG.client.runtime("ListPodSandbox").items, "sandboxes left after removal")
    leftover = set(kvmlet_agent.vmm_pids(CGROUP_ROOT)) & set(vmms)
    check(not leftover, f"VMMs left after RemovePodSandbox: {leftover}")
    why = AG.stop_clean()
    check(why is None, why)


if __name__ == "__main__":
    main([test_kill9_under_load])

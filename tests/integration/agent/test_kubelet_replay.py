#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kubelet's pod life, replayed (lib/kubelet.py) against containerd 1.6 +
runc with a busybox-static image, then against kvmlet-agent with the
firmware as a VM image (kvmlet.test=pod), and the answers compared.

Per runtime: Version, ImageFsInfo, Status, UpdateRuntimeConfig, a relist,
RunPodSandbox, ImageStatus/PullImage, CreateContainer with kubelet's
labels, annotations, mounts (service-account token, /etc/hosts,
termination log), log path and resources, StartContainer, the status
loop, an exec probe that passes (`echo ok`), a liveness probe that fails
three times (`false`, exit 1), the kill that follows (StopContainer with
the grace period), attempt 1 created beside the dead attempt 0 in the
same sandbox, its probe, then the pod's deletion: StopContainer,
StopPodSandbox, container GC (RemoveContainer) and RemovePodSandbox.

Checked on each: the console line (busybox's `echo hello`, the guest's
banner) in the CRI log in CRI format; the probe's exit code and stdout;
the exit code after StopContainer (runc: sh ignores SIGTERM as pid 1, so
137 after the grace; kvmlet: the guest powers off on Ctrl+Alt+Del, 0
"Completed"); the restarted container; labels and annotations returned
byte for byte; log_path absolute. Then the shapes of kvmlet's answers
against containerd's, field by field (lib/cri_shapes.py), with the
documented differences (docs/cri.md) allowed and nothing else.

containerd's side runs first and alone says whether the reference still
behaves as expected. An agent answering RunPodSandbox UNIMPLEMENTED makes
the kvmlet side SKIPPED ("VM pods not implemented by this agent").

Usage: test_kubelet_replay.py PATH-TO-kvmlet-agent PATH-TO-kvmlet-image"""
import atexit
import os
import random
import shutil
import sys
import tempfile

from harness import FIRMWARE, Failure, check, kvm_usable, skip
import busybox_image
import containerd
import cri_client
import cri_shapes
import kubelet
import kvmlet_agent
import registry

cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE_TOOL = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TAG = f"crictest{os.getpid() % 100000}"
TMP = tempfile.mkdtemp(prefix="kvmlet-replay-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
API = cri_client.load_api()
CGROUP_ROOT = f"/kvmlet-replay-{os.getpid()}"
atexit.register(kubelet.remove_cgroups, CGROUP_ROOT)
atexit.register(kvmlet_agent.kill_cgroup_tree, CGROUP_ROOT)  # what a failure left

for why in (registry.available(), containerd.available(), containerd.cni_available(),
            busybox_image.available()):
    if why:
        skip(why)

# Where kvmlet's answers may differ from containerd's, and why (docs/cri.md
# "VM pods: kubelet's pod life on both"): {answer: {path: why}}, "*" for
# every answer. Everything else must agree.
ALLOWED = {
    "sandbox": {
        "network": "pod networking is filled by the networking issue",
    },
    "sandbox_stopped": {
        "network": "pod networking is filled by the networking issue",
    },
    "*": {
        # CRI v0.29's ImageSpec field 18; containerd 1.6 predates it.
        "image.user_specified_image": "containerd 1.6 does not return it",
        "containers[*].image.user_specified_image": "containerd 1.6 does not return it",
        # kubelet 1.26-1.29 reads ContainerStatus.resources only with
        # InPlacePodVerticalScaling (alpha, off); kvmlet has no
        # UpdateContainerResources, so it reports none.
        "resources": "only for in-place resize, which kvmlet does not do",
    },
    "exited": {
        "message": "kvmlet says in words how the VM ended; containerd leaves it empty",
    },
}


class Run:
    """One runtime's replay and the answers it kept."""

    def __init__(self, name, client, image, command, args, banner, grace):
        self.name = name
        self.kl = kubelet.Kubelet(client, API, os.path.join(TMP, name), CGROUP_ROOT)
        self.container = kubelet.ContainerSpec("main", image, command=command, args=args,
                                               ports=[(8080, "TCP")])
        self.pod = kubelet.PodSpec(f"replay-{name}", namespace="kvmlet-test",
                                   labels={"app": "replay", "tier": "a/b=c"},
                                   annotations={"example.com/note": "ünïcode value"},
                                   containers=[self.container], grace=grace)
        self.banner = banner
        self.a = {}

    def log(self, attempt):
        return os.path.join(self.kl.pod_log_dir(self.pod), "main", f"{attempt}.log")


def run_replay(r, stop_exit, stop_reason):
    kl, pod, c, A = r.kl, r.pod, r.container, API
    r.a["version"], r.a["fsinfo"], r.a["status"] = kl.connect()
    check(r.a["status"].status.conditions, f"{r.name}: Status without conditions")
    before = kl.relist([pod])[pod.uid]
    check(before == ([], []), f"{r.name}: the pod exists before RunPodSandbox: {before}")

    sid, scfg = kl.run_pod(pod)
    r.sandbox = sid
    cid0 = kl.start_container(pod, sid, scfg, c, restart_count=0)
    r.a["running"] = kl.wait_state(pod, cid0, A.CONTAINER_RUNNING)
    lines = kubelet.wait_log_line(r.log(0), r.banner)
    check(all(s == "stdout" for _, s, _, _ in lines), f"{r.name}: a stderr line: {lines}")
    r.a["log0"] = lines
    sstat, cstat = kl.pod_status(pod)
    check(len(sstat) == 1 and len(cstat) == 1, f"{r.name}: {len(sstat)} sandboxes, "
          f"{len(cstat)} containers")
    r.a["sandbox"] = sstat[0]
    r.a["list_sandbox"] = kl.answers("ListPodSandbox")[-1]
    r.a["list_containers"] = kl.answers("ListContainers")[-1]
    check_echo(r, r.a["running"], 0)
    check_echo(r, r.a["list_containers"].containers[0], 0)
    check_echo(r, r.a["sandbox"], None)

    # readiness-style probe that passes
    ok = kl.probe(cid0, ["echo", "ok"], timeout_s=5)
    check(ok.exit_code == 0 and ok.stdout == b"ok\n" and ok.stderr == b"",
          f"{r.name}: echo probe: exit {ok.exit_code} out {ok.stdout!r} err {ok.stderr!r}")
    r.a["exec_ok"] = ok
    # liveness probe failing three times (failureThreshold 3), then the kill
    for _ in range(3):
        bad = kl.probe(cid0, ["false"], timeout_s=5)
        check(bad.exit_code == 1, f"{r.name}: false probe: exit {bad.exit_code}")
    r.a["exec_false"] = bad
    kl.kill_container(cid0, pod.grace)
    dead = kl.wait_state(pod, cid0, A.CONTAINER_EXITED, deadline_s=pod.grace + 30)
    check(dead.exit_code == stop_exit and dead.reason == stop_reason,
          f"{r.name}: after StopContainer exit {dead.exit_code} reason {dead.reason!r}, "
          f"expected {stop_exit} {stop_reason!r}")
    check(dead.finished_at >= dead.started_at > 0, f"{r.name}: finished_at/started_at")
    r.a["exited"] = dead
    # StopContainer again: idempotent
    kl.kill_container(cid0, pod.grace)

    # the restart: attempt 1 beside the dead attempt 0, in the same sandbox
    cid1 = kl.start_container(pod, sid, scfg, c, restart_count=1)
    check(cid1 != cid0, f"{r.name}: the restart reused the id")
    r.a["restarted"] = kl.wait_state(pod, cid1, A.CONTAINER_RUNNING)
    kubelet.wait_log_line(r.log(1), r.banner)
    check_echo(r, r.a["restarted"], 1)
    ok = kl.probe(cid1, ["echo", "ok"], timeout_s=5)
    check(ok.exit_code == 0 and ok.stdout == b"ok\n", f"{r.name}: restarted probe {ok}")
    _, cstat = kl.pod_status(pod)
    states = sorted((s.metadata.attempt, A.ContainerState.Name(s.state)) for s in cstat)
    check(states == [(0, "CONTAINER_EXITED"), (1, "CONTAINER_RUNNING")],
          f"{r.name}: containers after the restart {states}")
    r.a["list_two"] = kl.answers("ListContainers")[-1]

    # the pod is deleted
    kl.kill_pod(pod, sid)
    sstat, cstat = kl.pod_status(pod)
    check(sstat[0].state == A.SANDBOX_NOTREADY, f"{r.name}: sandbox {sstat[0].state}")
    check(all(s.state == A.CONTAINER_EXITED for s in cstat), f"{r.name}: still running")
    r.a["sandbox_stopped"] = sstat[0]
    kl.runtime("StopPodSandbox", A.StopPodSandboxRequest(pod_sandbox_id=sid))  # idempotent
    kl.gc_pod(pod, sid)
    check(kl.relist([pod])[pod.uid] == ([], []), f"{r.name}: the pod outlived its removal")
    # a removed id: what kubelet's retries meet
    r.a["gone"] = {}
    for method, req in (("ContainerStatus", A.ContainerStatusRequest(container_id=cid0)),
                        ("PodSandboxStatus", A.PodSandboxStatusRequest(pod_sandbox_id=sid)),
                        ("StopContainer", A.StopContainerRequest(container_id=cid0)),
                        ("RemoveContainer", A.RemoveContainerRequest(container_id=cid0)),
                        ("StopPodSandbox", A.StopPodSandboxRequest(pod_sandbox_id=sid)),
                        ("RemovePodSandbox", A.RemovePodSandboxRequest(pod_sandbox_id=sid))):
        r.a["gone"][method] = kl.c.code_of(kl.c.runtime, method, req)[0].name


def check_echo(r, status, attempt):
    """Labels and annotations come back byte for byte; log_path absolute."""
    pod, kl = r.pod, r.kl
    if attempt is None:  # a sandbox
        want = kl.sandbox_config(pod)
        check(dict(status.labels) == dict(want.labels),
              f"{r.name}: sandbox labels {dict(status.labels)} != {dict(want.labels)}")
        check(dict(status.annotations) == dict(want.annotations),
              f"{r.name}: sandbox annotations {dict(status.annotations)}")
        check(status.metadata.uid == pod.uid and status.metadata.name == pod.name,
              f"{r.name}: sandbox metadata {status.metadata}")
        return
    want = kl.container_config(pod, r.container, "x", attempt)
    check(dict(status.labels) == dict(want.labels),
          f"{r.name}: container labels {dict(status.labels)} != {dict(want.labels)}")
    check(dict(status.annotations) == dict(want.annotations),
          f"{r.name}: container annotations {dict(status.annotations)} != "
          f"{dict(want.annotations)}")
    check(status.metadata.attempt == attempt, f"{r.name}: attempt {status.metadata.attempt}")
    if hasattr(status, "log_path"):
        check(status.log_path == r.log(attempt),
              f"{r.name}: log_path {status.log_path!r}, expected {r.log(attempt)!r}")


COMPARED = ("version", "fsinfo", "status", "sandbox", "list_sandbox", "list_containers",
            "running", "exec_ok", "exec_false", "exited", "restarted", "list_two",
            "sandbox_stopped")


def compare(ref, kv):
    problems = []
    for key in COMPARED:
        lines = cri_shapes.diff(cri_shapes.shape(ref.a[key]), cri_shapes.shape(kv.a[key]),
                                {**ALLOWED["*"], **ALLOWED.get(key, {})})
        if lines:
            problems.append(f"{key} (containerd != kvmlet):\n" + "\n".join(lines))
    for method, code in ref.a["gone"].items():
        # Stop and Remove must not fail on what is gone (api.proto); containerd
        # 1.6 answers NOT_FOUND to the Stops, which kubelet also accepts.
        ok = {"OK", "NOT_FOUND"} if method.startswith(("Stop", "Remove")) else {code}
        if kv.a["gone"][method] not in ok:
            problems.append(f"{method} on a removed id: containerd {code}, "
                            f"kvmlet {kv.a['gone'][method]}")
    if problems:
        raise Failure("answer shapes differ:\n" + "\n".join(problems))


def main():
    reg = registry.Registry(TMP).start()
    atexit.register(reg.stop)
    busybox_ref, pause_ref = busybox_image.push(busybox_image.build(TMP), reg.host)

    # --- containerd + runc, the reference
    ctrd = containerd.Containerd(TMP, insecure=[reg.host], sandbox_image=pause_ref)
    ctrd.bridge_network(f"kvrp{os.getpid() % 100000}",
                        f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24")
    try:
        ctrd.start(API)
    except RuntimeError as e:
        skip(f"containerd cannot run here: {e}")
    atexit.register(ctrd.stop)
    ref = Run("containerd", cri_client.CriClient(ctrd.sock, API), busybox_ref,
              ["sh", "-c", "echo hello; sleep 3600"], [], "hello", grace=2)
    ref.kl.handler = "runc"  # named, as kvmlet's is: both report a runtime_handler
    try:
        run_replay(ref, 137, "Error")
    except (Failure, TimeoutError, grpc.RpcError) as e:
        raise Failure(f"the containerd reference moved: {e}\n{ctrd.log_text()}") from e
    ctrd.stop()
    print("ok   replay against containerd + runc (the reference)")

    # --- kvmlet-agent with the firmware VM image
    if not kvm_usable():
        skip("/dev/kvm is not usable")
    if not os.path.exists(FIRMWARE):
        skip(f"{FIRMWARE} is missing")
    agent = kvmlet_agent.Agent(AGENT, os.path.join(TMP, "agent"), insecure=[reg.host])
    # The node's CNI configuration, as containerd had it: NetworkReady alike.
    shutil.copytree(ctrd.cni_conf, agent.cni)
    agent.start(API)
    atexit.register(kvmlet_agent.remove_all_pods, agent, API, CGROUP_ROOT)
    if kvmlet_agent.pods_missing(agent.client, API):
        skip(kvmlet_agent.pods_missing(agent.client, API))
    pod_ref = kvmlet_agent.push_pod_image(IMAGE_TOOL, FIRMWARE, TMP, reg.host)
    kv = Run("kvmlet", agent.client, pod_ref, [], [], kvmlet_agent.POD_BANNER, grace=30)
    kv.kl.handler = "kvmlet"
    try:
        run_replay(kv, 0, "Completed")
    except grpc.RpcError as e:
        raise Failure(f"kvmlet: {e.code().name} {e.details()} after "
                      f"{kv.kl.calls[-3:]}\n{agent.log_text()}") from e
    print("ok   replay against kvmlet-agent (VM pod)")
    compare(ref, kv)
    print("ok   answer shapes agree (documented differences aside)")
    why = agent.stop_clean()
    if why:
        raise Failure(why)
    print("ok   the agent exits cleanly")


if __name__ == "__main__":
    try:
        main()
    except (Failure, TimeoutError) as e:
        print(f"FAIL {e}")
        sys.exit(1)
    print("4 passed, 0 failed")

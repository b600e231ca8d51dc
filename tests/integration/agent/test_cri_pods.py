#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""VM pods through kvmlet-agent's CRI socket, end to end on real KVM: the
firmware as a VM image pushed to a local docker-registry and pulled by the
agent; RunPodSandbox, CreateContainer with a kubelet-like config (labels,
annotations, log_directory/log_path, resources, a directory mount),
StartContainer, the guest's banner in the CRI log, ExecSync through the
guest agent, stats, StopContainer with a grace period (EXITED, exit 0),
removal, and an agent killed with SIGKILL that finds its running VM again.
Hostile requests get clear codes and leave nothing behind.

    test_cri_pods.py KVMLET_AGENT KVMLET_IMAGE
"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from harness import (FIRMWARE, Failure, check, kvm_usable, main, netns_usable, skip,
                     unix_http_get)
import cri_client
import registry

if os.geteuid() != 0:
    skip("needs root (jailer, cgroups, network namespaces)")
if registry.available():
    skip(registry.available())
if not kvm_usable():
    skip("no usable /dev/kvm")
if not netns_usable():
    skip("cannot create network namespaces")
if not os.path.exists(FIRMWARE):
    skip(f"no firmware at {FIRMWARE}")
cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TAG = uuid.uuid4().hex[:8]
TMP = tempfile.mkdtemp(prefix=f"kvmlet-cri-pods-{TAG}-")
CNI_DIR = os.path.join(TMP, "cni")
SOCK = os.path.join(TMP, "cri.sock")
METRICS = os.path.join(TMP, "metrics.sock")
ROOT = os.path.join(TMP, "root")
LOGS = os.path.join(TMP, "pods")
CGPARENT = f"kvmlet-pods-{TAG}"
UID_BASE = 700000 + int(TAG[:4], 16) % 200 * 100  # apart from parallel runs
API = cri_client.load_api()
SC = grpc.StatusCode
TIMEOUT = 60


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


class Agent:
    starts = 0

    def __init__(self):
        Agent.starts += 1
        conf = os.path.join(TMP, "agent.conf")
        os.makedirs(CNI_DIR, exist_ok=True)  # no CNI network: pods keep loopback only
        with open(conf, "w") as f:
            f.write(f"[vm]\nuid_base = {UID_BASE}\nuid_count = 16\n")
        self.log = os.path.join(TMP, f"agent-{Agent.starts}.log")
        self.p = subprocess.Popen(
            [AGENT, "--config", conf, "--listen", f"unix://{SOCK}", "--root", ROOT,
             "--metrics-listen", METRICS, "--cni-conf-dir", CNI_DIR,
             "--insecure-registries", REG.host],
            stdin=subprocess.DEVNULL, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        wait_for("the agent", lambda: self.p.poll() is not None or
                 "kvmlet-agent started" in read(self.log), 30)
        check(self.p.poll() is None, f"agent exited: {read(self.log)}")
        self.c = cri_client.CriClient(SOCK, API)

    def kill(self):
        self.c.close()
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=30)

    def stop(self):
        self.c.close()
        self.p.send_signal(signal.SIGTERM)
        check(self.p.wait(timeout=30) == 0, f"agent did not exit 0: {read(self.log)}")


def sandbox_config(name, attempt=0):
    uid = f"{TAG}-0000-4000-8000-{name:0>12}"[:36]
    return API.PodSandboxConfig(
        metadata=API.PodSandboxMetadata(name=name, namespace="default", uid=uid,
                                        attempt=attempt),
        hostname=name,
        log_directory=os.path.join(LOGS, f"default_{name}_{uid}"),
        labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": "default",
                "io.kubernetes.pod.uid": uid, "app": "fw"},
        annotations={"kubernetes.io/config.seen": "2026-12-08T00:00:00.000000000Z",
                     "kubernetes.io/config.source": "api"},
        linux=API.LinuxPodSandboxConfig(cgroup_parent=CGPARENT))


def container_config(image_id, name="fw", attempt=0, mount=None):
    mounts = [API.Mount(container_path="/etc/config", host_path=mount, readonly=True)] \
        if mount else []
    return API.ContainerConfig(
        metadata=API.ContainerMetadata(name=name, attempt=attempt),
        image=API.ImageSpec(image=image_id),
        log_path=f"{name}/{attempt}.log",
        labels={"io.kubernetes.container.name": name, "io.kubernetes.pod.name": "web"},
        annotations={"io.kubernetes.container.hash": "1a2b3c4d",
                     "io.kubernetes.container.restartCount": str(attempt)},
        mounts=mounts,
        linux=API.LinuxContainerConfig(resources=API.LinuxContainerResources(
            cpu_period=100000, cpu_quota=50000, memory_limit_in_bytes=64 << 20)))


def run_pod(name):
    cfg = sandbox_config(name)
    r = AG.c.runtime("RunPodSandbox", API.RunPodSandboxRequest(config=cfg,
                                                               runtime_handler="kvmlet"),
                     timeout=TIMEOUT)
    return r.pod_sandbox_id, cfg


def create(sb, cfg, ccfg):
    return AG.c.runtime("CreateContainer", API.CreateContainerRequest(
        pod_sandbox_id=sb, config=ccfg, sandbox_config=cfg), timeout=TIMEOUT).container_id


def cstatus(ct):
    return AG.c.runtime("ContainerStatus", API.ContainerStatusRequest(container_id=ct)).status


def by_id(method, field, value, timeout=TIMEOUT):
    req_cls, _ = AG.c.types("RuntimeService", method)
    return AG.c.runtime(method, req_cls(**{field: value}), timeout=timeout)


def metric(name):
    m = re.search("^" + re.escape(name) + r" (\S+)$", unix_http_get(METRICS, "/metrics"), re.M)
    return float(m.group(1)) if m else None


def vms():
    d = os.path.join(ROOT, "vms")
    return sorted(n for n in os.listdir(d) if len(n) == 64) if os.path.isdir(d) else []


def test_pod_lifecycle():
    t0 = time.monotonic()
    sb, cfg = run_pod("web")
    run_s = time.monotonic() - t0
    netns = os.path.join(ROOT, "netns", sb)
    check(os.path.exists(netns), "no network namespace for the sandbox")
    st = AG.c.runtime("PodSandboxStatus", API.PodSandboxStatusRequest(pod_sandbox_id=sb,
                                                                      verbose=True))
    check(st.status.state == API.SANDBOX_READY and dict(st.status.labels) == dict(cfg.labels)
          and dict(st.status.annotations) == dict(cfg.annotations),
          f"sandbox status: {st.status}")
    check(json.loads(st.info["info"])["netns"] == netns, f"verbose info {st.info}")

    cm = os.path.join(TMP, "configmap")
    os.makedirs(cm, exist_ok=True)
    with open(os.path.join(cm, "app.conf"), "w") as f:
        f.write("answer = 42\n")
    ccfg = container_config(FW_ID, mount=cm)
    t0 = time.monotonic()
    ct = create(sb, cfg, ccfg)
    create_s = time.monotonic() - t0
    s = cstatus(ct)
    log = os.path.join(cfg.log_directory, "fw", "0.log")
    check(s.state == API.CONTAINER_CREATED and s.log_path == log and
          s.image.image == f"{REG.host}/fw:v1" and s.image_ref == f"{REG.host}/fw@{FW_MANIFEST}"
          and s.created_at > 0, f"after create: {s}")
    check(dict(s.labels) == dict(ccfg.labels) and dict(s.annotations) == dict(ccfg.annotations)
          and len(s.mounts) == 1 and s.mounts[0].container_path == "/etc/config",
          f"labels, annotations, mounts not echoed: {s}")

    # A second container in the pod (a sidecar, an init container): one VM per pod.
    code, msg = AG.c.code_of(create, sb, cfg, container_config(FW_ID, name="sidecar"))
    check(code == SC.INVALID_ARGUMENT and "one VM per pod" in msg, f"sidecar: {code} {msg}")

    t0 = time.monotonic()
    by_id("StartContainer", "container_id", ct)
    wait_for("the guest's banner in the CRI log", lambda: "pod ready" in read(log))
    banner_s = time.monotonic() - t0
    first = read(log).splitlines()[0].split(" ", 3)
    check(len(first) == 4 and first[1] == "stdout" and first[2] in ("P", "F"),
          f"not a CRI log line: {first}")
    s = cstatus(ct)
    check(s.state == API.CONTAINER_RUNNING and s.started_at >= s.created_at,
          f"after start: {s}")
    v = AG.c.runtime("ContainerStatus", API.ContainerStatusRequest(container_id=ct,
                                                                  verbose=True))
    vm = json.loads(v.info["info"])["vm"]
    check(vm.get("vcpus") == 1 and vm.get("guestMemoryBytes") == 64 << 20 and
          vm.get("vsockCid", 0) >= 3, f"verbose vm info: {vm}")
    check(metric('kvmlet_agent_containers{state="CONTAINER_RUNNING"}') == 1 and
          metric('kvmlet_agent_pod_sandboxes{state="SANDBOX_READY"}') == 1 and
          metric("kvmlet_agent_container_starts_total") >= 1, "pod metrics")
    print(f"     RunPodSandbox {run_s * 1000:.1f} ms, CreateContainer {create_s * 1000:.1f} ms, "
          f"StartContainer to banner {banner_s * 1000:.1f} ms")

    r = AG.c.runtime("ExecSync", API.ExecSyncRequest(container_id=ct, cmd=["echo", "hi", "pod"],
                                                    timeout=10), timeout=TIMEOUT)
    check(r.exit_code == 0 and r.stdout == b"hi pod\n", f"exec: {r}")

    lst = AG.c.runtime("ListContainers", API.ListContainersRequest(filter=API.ContainerFilter(
        label_selector={"io.kubernetes.pod.name": "web"},
        state=API.ContainerStateValue(state=API.CONTAINER_RUNNING))))
    check([c.id for c in lst.containers] == [ct], f"list: {lst}")
    cs = AG.c.runtime("ContainerStats", API.ContainerStatsRequest(container_id=ct)).stats
    check(cs.attributes.id == ct and cs.cpu.usage_core_nano_seconds.value > 0 and
          cs.memory.working_set_bytes.value > 0 and cs.writable_layer.used_bytes.value > 0,
          f"stats: {cs}")
    ps = AG.c.runtime("PodSandboxStats", API.PodSandboxStatsRequest(pod_sandbox_id=sb)).stats
    check(ps.linux.cpu.usage_core_nano_seconds.value >= cs.cpu.usage_core_nano_seconds.value
          and len(ps.linux.containers) == 1, f"pod stats: {ps}")

    # kubelet's log rotation: rename, then reopen makes a new file.
    os.rename(log, log + ".20261208-000000")
    by_id("ReopenContainerLog", "container_id", ct)
    check(os.path.exists(log), "no new log file after ReopenContainerLog")

    AG.c.runtime("StopContainer", API.StopContainerRequest(container_id=ct, timeout=20),
                 timeout=TIMEOUT)
    s = cstatus(ct)
    check(s.state == API.CONTAINER_EXITED and s.exit_code == 0 and s.reason == "Completed"
          and s.finished_at >= s.started_at, f"after stop: {s}")
    AG.c.runtime("StopContainer", API.StopContainerRequest(container_id=ct, timeout=5))

    # kubelet's restart: attempt 1 of the same container, a new VM, a new log file.
    ct1 = create(sb, cfg, container_config(FW_ID, attempt=1))
    by_id("StartContainer", "container_id", ct1)
    log1 = os.path.join(cfg.log_directory, "fw", "1.log")
    wait_for("the restarted guest's banner", lambda: "pod ready" in read(log1))
    AG.c.runtime("StopContainer", API.StopContainerRequest(container_id=ct1, timeout=20),
                 timeout=TIMEOUT)
    check(cstatus(ct1).exit_code == 0, "the restarted container's exit")
    by_id("RemoveContainer", "container_id", ct1)
    by_id("RemoveContainer", "container_id", ct)
    by_id("RemoveContainer", "container_id", ct)  # idempotent
    code, _ = AG.c.code_of(cstatus, ct)
    check(code == SC.NOT_FOUND, f"status of a removed container: {code}")
    by_id("StopPodSandbox", "pod_sandbox_id", sb)
    check(not os.path.exists(netns), "the netns outlived StopPodSandbox")
    by_id("RemovePodSandbox", "pod_sandbox_id", sb)
    by_id("RemovePodSandbox", "pod_sandbox_id", sb)
    check(vms() == [], f"VMs left: {vms()}")
    check(len(AG.c.runtime("ListPodSandbox").items) == 0, "sandboxes left")


def test_agent_killed():
    """SIGKILL with a VM running: the restarted agent finds it, and it still answers."""
    global AG
    sb, cfg = run_pod("survivor")
    ct = create(sb, cfg, container_config(FW_ID))
    by_id("StartContainer", "container_id", ct)
    log = os.path.join(cfg.log_directory, "fw", "0.log")
    wait_for("the banner", lambda: "pod ready" in read(log))
    AG.kill()
    AG = Agent()
    s = cstatus(ct)
    check(s.state == API.CONTAINER_RUNNING and dict(s.labels)["io.kubernetes.container.name"]
          == "fw", f"after the agent's restart: {s}")
    r = AG.c.runtime("ExecSync", API.ExecSyncRequest(container_id=ct, cmd=["echo", "back"],
                                                    timeout=10), timeout=TIMEOUT)
    check(r.stdout == b"back\n", f"exec after restart: {r}")
    # The image stays while a container was made from it.
    code, msg = AG.c.code_of(AG.c.image, "RemoveImage", API.RemoveImageRequest(
        image=API.ImageSpec(image=FW_ID)))
    check(code == SC.FAILED_PRECONDITION, f"RemoveImage of an image in use: {code} {msg}")
    # Removing the sandbox takes its running container with it (force, as containerd).
    by_id("RemovePodSandbox", "pod_sandbox_id", sb)
    check(vms() == [], f"VMs left: {vms()}")


def test_hostile():
    bad_ids = ["", "abc", "../../etc/passwd", "A" * 64]
    for method, field in [("StartContainer", "container_id"), ("StopContainer", "container_id"),
                          ("ContainerStatus", "container_id"), ("ExecSync", "container_id"),
                          ("StopPodSandbox", "pod_sandbox_id"),
                          ("PodSandboxStatus", "pod_sandbox_id")]:
        for i in bad_ids:
            code, _ = AG.c.code_of(by_id, method, field, i)
            check(code == SC.INVALID_ARGUMENT, f"{method}({i!r}): {code}")
    code, _ = AG.c.code_of(by_id, "StopContainer", "container_id", "0" * 64)
    check(code == SC.NOT_FOUND, f"StopContainer of a missing id: {code}")
    code, msg = AG.c.code_of(AG.c.runtime, "RunPodSandbox", API.RunPodSandboxRequest(
        config=sandbox_config("h"), runtime_handler="runc"))
    check(code == SC.INVALID_ARGUMENT and "runc" in msg, f"handler runc: {code} {msg}")
    cfg = sandbox_config("h")
    cfg.metadata.name = "n" * 300
    code, _ = AG.c.code_of(AG.c.runtime, "RunPodSandbox", API.RunPodSandboxRequest(config=cfg))
    check(code == SC.INVALID_ARGUMENT, f"a 300-byte name: {code}")
    sb, cfg = run_pod("hostile")
    code, _ = AG.c.code_of(AG.c.runtime, "RunPodSandbox", API.RunPodSandboxRequest(config=cfg))
    check(code == SC.ALREADY_EXISTS, f"the same sandbox name twice: {code}")
    for path in ["../../../etc/x.log", "/etc/x.log"]:
        cc = container_config(FW_ID)
        cc.log_path = path
        code, msg = AG.c.code_of(create, sb, cfg, cc)
        check(code == SC.INVALID_ARGUMENT, f"log_path {path}: {code} {msg}")
    os.makedirs(cfg.log_directory, exist_ok=True)
    os.symlink("/etc", os.path.join(cfg.log_directory, "out"))
    cc = container_config(FW_ID)
    cc.log_path = "out/x.log"
    code, msg = AG.c.code_of(create, sb, cfg, cc)
    check(code == SC.INVALID_ARGUMENT and "outside" in msg, f"symlink escape: {code} {msg}")
    cc = container_config("sha256:" + "0" * 64)
    code, _ = AG.c.code_of(create, sb, cfg, cc)
    check(code == SC.NOT_FOUND, f"an image never pulled: {code}")
    check(vms() == [], f"refused creates left VMs: {vms()}")
    by_id("RemovePodSandbox", "pod_sandbox_id", sb)


def cleanup():
    try:  # a failed test may leave pods: their VMs must not outlive it
        for sb in AG.c.runtime("ListPodSandbox").items:
            by_id("RemovePodSandbox", "pod_sandbox_id", sb.id)
        AG.stop()
    except Exception:  # noqa: BLE001 (best effort at exit)
        pass
    for d, _, _ in os.walk(os.path.join(ROOT, "netns")):
        for n in os.listdir(d):
            subprocess.run(["umount", "-l", os.path.join(d, n)], capture_output=True)
    for ctrl in ("memory", "cpu", "cpuacct", "pids"):
        try:
            os.rmdir(os.path.join("/sys/fs/cgroup", ctrl, CGPARENT))
        except OSError:
            pass
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    REG = registry.Registry(TMP)
    REG.start()
    atexit.register(REG.stop)
    disk = os.path.join(TMP, "disk.img")
    with open(disk, "wb") as f:
        f.write(b"kvmlet pod disk\n" * 4096)
    layout = os.path.join(TMP, "layout")
    subprocess.run([IMAGE, "build", "--kernel", FIRMWARE, "--cmdline", "kvmlet.test=pod",
                    "--disk", disk, "--output", layout, "--tag", "v1"], check=True,
                   capture_output=True)
    registry.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
                    f"docker://{REG.host}/fw:v1")
    with open(os.path.join(layout, "index.json")) as f:
        FW_MANIFEST = json.load(f)["manifests"][0]["digest"]
    AG = Agent()
    atexit.register(cleanup)
    FW_ID = AG.c.image("PullImage", API.PullImageRequest(
        image=API.ImageSpec(image=f"{REG.host}/fw:v1")), timeout=TIMEOUT).image_ref
    main([test_pod_lifecycle, test_agent_killed, test_hostile])

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The CRI proxy (docs/proxy.md) with Debian's containerd 1.6 + runc as the
upstream: one kvmlet-agent socket serves a busybox container pod (runtime
handler "", forwarded to containerd) and kvmlet's own side (a VM pod when
this agent runs VM pods; else the VM image calls, which route to kvmlet's
store by `[proxy] vm_image_prefixes`).

Checked: each call reaches the right runtime (containerd's own socket is
asked directly to see where things landed); merged lists; Version is
kvmlet's and Status combines both; the owner map survives an agent restart
and an id missing from it is found by asking both; with containerd
stopped, its pod's calls fail UNAVAILABLE naming the upstream while
kvmlet's calls (and Version) keep working, and after containerd is back
they work again; Remove* forgets the ids; the proxy's metrics.

Pod network: both runtimes use containerd's CNI bridge. A second VM pod
runs the firmware's net test (kvmlet.net_serve_s=0: it answers ARP and ICMP
echo for as long as it runs) against the busybox pod's IP, so the VM pings
the busybox pod; the busybox container pings the VM's pod IP (ExecSync).
With containerd stopped (its shim and bridge stay), the VM pod's calls
work and the busybox pod's network namespace still reaches the VM; with
kvmlet's VM side unavailable, the busybox pod still reaches the VM.

Usage: test_cri_proxy.py PATH-TO-kvmlet-agent PATH-TO-kvmlet-image"""
import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from harness import FIRMWARE, Failure, check, kvm_usable, main, skip, unix_http_get
import busybox_image
import containerd
import cri_client
import kvmlet_agent
import registry

for why in (registry.available(), containerd.available(), containerd.cni_available(),
            busybox_image.available()):
    if why:
        skip(why)
cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE_TOOL = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TAG = uuid.uuid4().hex[:8]
TMP = tempfile.mkdtemp(prefix=f"kvmlet-criproxy-{TAG}-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
API = cri_client.load_api()
SC = grpc.StatusCode
TIMEOUT = 60
UID_BASE = 600000 + int(TAG[:4], 16) % 200 * 100  # apart from parallel runs


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


REG = registry.Registry(TMP).start()
atexit.register(REG.stop)
BUSYBOX_REF, PAUSE_REF = busybox_image.push(busybox_image.build(TMP), REG.host)
VM_PREFIX = f"{REG.host}/{kvmlet_agent.POD_REPO}"
VM_REF = kvmlet_agent.push_pod_image(IMAGE_TOOL, FIRMWARE, TMP, REG.host) \
    if os.path.exists(FIRMWARE) else None

CTRD = containerd.Containerd(TMP, insecure=[REG.host], sandbox_image=PAUSE_REF)
CTRD.bridge_network(f"kvpx{os.getpid() % 100000}",
                    f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24")
try:
    CTRD.start(API)
except RuntimeError as e:
    skip(f"containerd cannot run here: {e}")
atexit.register(CTRD.stop)
DIRECT = cri_client.CriClient(CTRD.sock, API)  # containerd's own socket, to look behind the proxy

AGENT_DIR = os.path.join(TMP, "agent")
METRICS = os.path.join(AGENT_DIR, "metrics.sock")
# Both runtimes use the same CNI network (the test's private bridge): kvmlet's
# VM pods and containerd's pods share it, as they would on a mixed node.
CONF = os.path.join(TMP, "agent.conf")
with open(CONF, "w") as f:
    f.write(f"[proxy]\nupstream = unix://{CTRD.sock}\nvm_image_prefixes = {VM_PREFIX}\n"
            "timeout_ms = 120000\n"
            f"[vm]\nuid_base = {UID_BASE}\nuid_count = 16\n")
AG = kvmlet_agent.Agent(AGENT, AGENT_DIR, insecure=[REG.host],
                        extra=["--config", CONF, "--metrics-listen", METRICS,
                               "--cni-conf-dir", CTRD.cni_conf])
AG.start(API)
atexit.register(AG.stop)


def vm_pods_missing():
    """As kvmlet_agent.pods_missing(), asked of kvmlet's side: an empty
    RunPodSandbox with handler "" would go to containerd."""
    code, details = AG.client.code_of(AG.client.runtime, "RunPodSandbox",
                                      API.RunPodSandboxRequest(runtime_handler="kvmlet"),
                                      timeout=30)
    if code == SC.UNIMPLEMENTED or (code == SC.UNAVAILABLE and "not available" in details):
        return f"{code.name} {details}"
    return None


VM_PODS = VM_REF and kvm_usable() and not vm_pods_missing()

STATE = {}  # what the tests made, by name
CGROUP = f"/sys/fs/cgroup/kvmlet-criproxy-{TAG}"


def remove_cgroup():
    """The pods' cgroup parent, once every pod in it is gone (rmdir fails while one is not)."""
    for d, _, _ in sorted(os.walk(CGROUP), key=lambda w: -len(w[0])):
        try:
            os.rmdir(d)
        except OSError:
            pass


atexit.register(remove_cgroup)


def c():
    return AG.client


def sandbox_config(name, uid):
    logdir = os.path.join(TMP, "pods", f"default_{name}_{uid}")
    os.makedirs(logdir, exist_ok=True)
    return API.PodSandboxConfig(
        metadata=API.PodSandboxMetadata(name=name, namespace="default", uid=uid, attempt=0),
        hostname=name, log_directory=logdir,
        labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.uid": uid},
        linux=API.LinuxPodSandboxConfig(cgroup_parent=f"kvmlet-criproxy-{TAG}"))


def container_config(image, name, command=(), caps=()):
    return API.ContainerConfig(
        metadata=API.ContainerMetadata(name=name, attempt=0),
        image=API.ImageSpec(image=image), command=list(command), log_path=f"{name}/0.log",
        labels={"io.kubernetes.container.name": name},
        linux=API.LinuxContainerConfig(security_context=API.LinuxContainerSecurityContext(
            capabilities=API.Capability(add_capabilities=list(caps)))))


def ids(items):
    return {i.id for i in items}


def owners_file():
    try:
        with open(os.path.join(AG.root, "proxy", "owners")) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def metrics():
    return unix_http_get(METRICS, "/metrics")


def test_version_and_status():
    v = c().runtime("Version")
    check(v.runtime_name == "kvmlet", f"Version is kvmlet's: {v}")
    s = c().runtime("Status", API.StatusRequest(verbose=True))
    conds = {x.type: x for x in s.status.conditions}
    check(conds["RuntimeReady"].status and conds["NetworkReady"].status,
          f"both runtimes ready, so both conditions are true: {s.status}")
    check("config" in s.info and "upstream.config" in s.info,
          f"verbose info has both runtimes' keys: {sorted(s.info)}")


def test_container_pod_upstream():
    uid = str(uuid.uuid4())
    cfg = sandbox_config(f"bb-{TAG}", uid)
    r = c().image("PullImage", API.PullImageRequest(image=API.ImageSpec(image=BUSYBOX_REF),
                                                    sandbox_config=cfg), timeout=TIMEOUT)
    check(DIRECT.image("ImageStatus", API.ImageStatusRequest(
        image=API.ImageSpec(image=BUSYBOX_REF))).image.id == r.image_ref,
        "busybox (no VM prefix, unknown pod) was pulled by containerd")
    sb = c().runtime("RunPodSandbox", API.RunPodSandboxRequest(config=cfg, runtime_handler=""),
                     timeout=TIMEOUT).pod_sandbox_id
    check(sb in ids(DIRECT.runtime("ListPodSandbox").items),
          "a pod with runtime_handler \"\" runs in containerd")
    ct = c().runtime("CreateContainer", API.CreateContainerRequest(
        pod_sandbox_id=sb, sandbox_config=cfg,
        config=container_config(r.image_ref, "bb", ["sh", "-c", "echo hi; sleep 3600"],
                                 caps=["NET_RAW"])),  # for ping
        timeout=TIMEOUT).container_id
    c().runtime("StartContainer", API.StartContainerRequest(container_id=ct), timeout=TIMEOUT)
    st = c().runtime("ContainerStatus", API.ContainerStatusRequest(container_id=ct)).status
    check(st.state == API.CONTAINER_RUNNING, f"busybox container runs: {st.state}")
    out = c().runtime("ExecSync", API.ExecSyncRequest(container_id=ct,
                                                      cmd=["echo", "through the proxy"],
                                                      timeout=10), timeout=30)
    check(out.exit_code == 0 and out.stdout == b"through the proxy\n",
          f"ExecSync reached runc: {out}")
    ex = c().runtime("Exec", API.ExecRequest(container_id=ct, cmd=["sh"], stdout=True))
    check(ex.url.startswith("http://127.0.0.1:"), f"Exec's URL is containerd's: {ex.url}")
    owners = owners_file()
    check(f"sandbox {sb} upstream -" in owners and f"container {ct} upstream {sb}" in owners
          and f"pod {uid} upstream {sb}" in owners, f"owner map:\n{owners}")
    STATE.update(bb_sb=sb, bb_ct=ct, bb_image=r.image_ref, bb_cfg=cfg)


def test_vm_side_local():
    if VM_PODS:
        uid = str(uuid.uuid4())
        cfg = sandbox_config(f"vm-{TAG}", uid)
        r = c().image("PullImage", API.PullImageRequest(image=API.ImageSpec(image=VM_REF),
                                                        sandbox_config=cfg), timeout=TIMEOUT)
        sb = c().runtime("RunPodSandbox", API.RunPodSandboxRequest(
            config=cfg, runtime_handler="kvmlet"), timeout=TIMEOUT).pod_sandbox_id
        check(sb not in ids(DIRECT.runtime("ListPodSandbox").items),
              "the kvmlet pod is not containerd's")
        ct = c().runtime("CreateContainer", API.CreateContainerRequest(
            pod_sandbox_id=sb, sandbox_config=cfg, config=container_config(r.image_ref, "fw")),
            timeout=TIMEOUT).container_id
        c().runtime("StartContainer", API.StartContainerRequest(container_id=ct),
                    timeout=TIMEOUT)
        wait_for("the VM container running", lambda: c().runtime(
            "ContainerStatus", API.ContainerStatusRequest(container_id=ct)).status.state ==
            API.CONTAINER_RUNNING)
        STATE.update(vm_sb=sb, vm_ct=ct)
        print("     (VM pod on the same socket)")
    elif VM_REF:
        print("     (this agent runs no VM pods: kvmlet's side is its image store)")
        c().image("PullImage", API.PullImageRequest(image=API.ImageSpec(image=VM_REF)),
                  timeout=TIMEOUT)
    else:
        skip(f"no firmware at {FIRMWARE} for the VM image")
    got = c().image("ImageStatus", API.ImageStatusRequest(image=API.ImageSpec(image=VM_REF)))
    check(got.image.id, "the VM image is found through the proxy")
    check(not DIRECT.image("ImageStatus", API.ImageStatusRequest(
        image=API.ImageSpec(image=VM_REF))).image.id,
        "the VM image (vm_image_prefixes) went to kvmlet's store, not containerd's")
    STATE["vm_image"] = got.image.id


def pod_ip(sb):
    return c().runtime("PodSandboxStatus",
                       API.PodSandboxStatusRequest(pod_sandbox_id=sb)).status.network.ip


def busybox_pings(ip):
    """The busybox container pings ip through containerd (ExecSync); the
    output, or None if it was answered."""
    out = c().runtime("ExecSync", API.ExecSyncRequest(
        container_id=STATE["bb_ct"], cmd=["/bin/busybox", "ping", "-c", "1", "-W", "2", ip],
        timeout=10), timeout=30)
    return None if out.exit_code == 0 else f"{out.exit_code} {out.stdout} {out.stderr}"


def netns_pings(pid, ip):
    """ping from the network namespace of process pid, without containerd."""
    p = subprocess.run(["nsenter", "-t", str(pid), "-n", "/bin/busybox", "ping", "-c", "1",
                        "-W", "2", ip], capture_output=True, text=True, timeout=30)
    return None if p.returncode == 0 else f"{p.returncode} {p.stdout} {p.stderr}"


def vm_log_failed():
    text = read_text(STATE["net_log"])
    return text[-2000:] if "FAIL" in text else None


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_pod_network():
    if not VM_PODS:
        print("     (this agent runs no VM pods: no pod network to check)")
        return
    bb_ip = pod_ip(STATE["bb_sb"])
    check(bb_ip, "the busybox pod has an IP on containerd's bridge")
    cfg = sandbox_config(f"vmnet-{TAG}", str(uuid.uuid4()))
    img = c().image("PullImage", API.PullImageRequest(image=API.ImageSpec(image=VM_REF),
                                                      sandbox_config=cfg),
                    timeout=TIMEOUT).image_ref
    sb = c().runtime("RunPodSandbox", API.RunPodSandboxRequest(
        config=cfg, runtime_handler="kvmlet"), timeout=TIMEOUT).pod_sandbox_id
    STATE["net_sb"] = sb
    vm_ip = pod_ip(sb)
    check(vm_ip and vm_ip != bb_ip and vm_ip.rsplit(".", 1)[0] == bb_ip.rsplit(".", 1)[0],
          f"the VM pod is on the same bridge: {vm_ip} vs {bb_ip}")
    cc = container_config(img, "fw")
    # The image's "kvmlet.test=pod" is overridden: the last word wins.
    cc.annotations["kvmlet.io/kernel-args"] = \
        f"kvmlet.test=net kvmlet.peer={bb_ip} kvmlet.net_serve_s=0"
    ct = c().runtime("CreateContainer", API.CreateContainerRequest(
        pod_sandbox_id=sb, sandbox_config=cfg, config=cc), timeout=TIMEOUT).container_id
    STATE.update(net_ct=ct, net_log=os.path.join(cfg.log_directory, "fw", "0.log"),
                 vm_ip=vm_ip)
    c().runtime("StartContainer", API.StartContainerRequest(container_id=ct), timeout=TIMEOUT)
    # "net: ready" comes after the firmware's three pings of the busybox pod were answered.
    wait_for("the VM's net test", lambda: "net: ready" in read_text(STATE["net_log"]) or
             "FAIL" in read_text(STATE["net_log"]), 120)
    check("net: ready" in read_text(STATE["net_log"]),
          f"the VM pod could not ping the busybox pod {bb_ip}: "
          f"{read_text(STATE['net_log'])[-2000:]}")
    why = busybox_pings(vm_ip)
    check(why is None, f"the busybox pod could not ping the VM pod {vm_ip}: {why}")
    info = DIRECT.runtime("ContainerStatus", API.ContainerStatusRequest(
        container_id=STATE["bb_ct"], verbose=True)).info
    STATE["bb_pid"] = json.loads(info["info"])["pid"]
    check(STATE["bb_pid"] > 0, f"busybox's pid: {info}")


def test_merged_lists():
    pods = ids(c().runtime("ListPodSandbox").items)
    check(STATE["bb_sb"] in pods, "ListPodSandbox has containerd's pod")
    if "vm_sb" in STATE:
        check(STATE["vm_sb"] in pods, "ListPodSandbox has kvmlet's pod")
    check(ids(DIRECT.runtime("ListPodSandbox").items) <= pods, "every containerd pod listed")
    cts = ids(c().runtime("ListContainers").containers)
    check(STATE["bb_ct"] in cts and ("vm_ct" not in STATE or STATE["vm_ct"] in cts),
          "ListContainers merged")
    # A filter is forwarded: containerd's answer has only the one asked for.
    f = c().runtime("ListContainers", API.ListContainersRequest(
        filter=API.ContainerFilter(id=STATE["bb_ct"])))
    check(ids(f.containers) == {STATE["bb_ct"]}, f"filtered: {ids(f.containers)}")
    imgs = ids(c().image("ListImages").images)
    check(STATE["bb_image"] in imgs and STATE["vm_image"] in imgs,
          "ListImages has both stores' images")
    fs = c().image("ImageFsInfo")
    mounts = [x.fs_id.mountpoint for x in fs.image_filesystems]
    check(len(mounts) >= 2, f"ImageFsInfo has both runtimes' filesystems: {mounts}")
    c().runtime("ListContainerStats")
    c().runtime("UpdateRuntimeConfig", API.UpdateRuntimeConfigRequest(
        runtime_config=API.RuntimeConfig(network_config=API.NetworkConfig(
            pod_cidr="10.250.0.0/24"))))


def restart_agent():
    AG.stop()
    AG.start(API)


def test_restart_keeps_routes():
    restart_agent()
    st = c().runtime("ContainerStatus",
                     API.ContainerStatusRequest(container_id=STATE["bb_ct"])).status
    check(st.state == API.CONTAINER_RUNNING, "routed by the owner map after a restart")
    check("owner found" not in AG.log_text(20000).split("kvmlet-agent started")[-1],
          "no discovery was needed")
    # An id the map does not have (made before the proxy knew it): ask both.
    AG.stop()
    os.unlink(os.path.join(AG.root, "proxy", "owners"))
    AG.start(API)
    st = c().runtime("PodSandboxStatus",
                     API.PodSandboxStatusRequest(pod_sandbox_id=STATE["bb_sb"])).status
    check(st.id == STATE["bb_sb"], "an unknown id is found by asking both runtimes")
    check(f"sandbox {STATE['bb_sb']} upstream" in owners_file(), "and recorded")
    check("owner found" in AG.log_text(20000), "one log line for the discovery")


def test_upstream_down():
    CTRD.stop(keep_bridge=True)
    code, details = c().code_of(c().runtime, "ContainerStatus",
                                API.ContainerStatusRequest(container_id=STATE["bb_ct"]))
    check(code == SC.UNAVAILABLE and CTRD.sock in details,
          f"containerd's pod: UNAVAILABLE naming the upstream: {code} {details}")
    check(c().runtime("Version").runtime_name == "kvmlet", "Version keeps working")
    s = c().runtime("Status")
    rr = [x for x in s.status.conditions if x.type == "RuntimeReady"][0]
    check(not rr.status and rr.reason == "UpstreamUnavailable" and CTRD.sock in rr.message,
          f"RuntimeReady false, saying why: {rr}")
    if "vm_ct" in STATE:
        st = c().runtime("ContainerStatus",
                         API.ContainerStatusRequest(container_id=STATE["vm_ct"])).status
        check(st.state == API.CONTAINER_RUNNING, "the VM pod keeps working")
    if "net_ct" in STATE:
        st = c().runtime("ContainerStatus",
                         API.ContainerStatusRequest(container_id=STATE["net_ct"])).status
        check(st.state == API.CONTAINER_RUNNING, "the networked VM pod keeps working")
        why = netns_pings(STATE["bb_pid"], STATE["vm_ip"])
        check(why is None, f"without containerd, the busybox pod cannot reach the VM: {why}")
        check(vm_log_failed() is None, f"the VM's net test failed: {vm_log_failed()}")
    got = c().image("ImageStatus", API.ImageStatusRequest(image=API.ImageSpec(image=VM_REF)))
    check(got.image.id == STATE["vm_image"], "kvmlet's images keep working")
    code, _ = c().code_of(c().runtime, "ListPodSandbox")
    check(code == SC.UNAVAILABLE, f"a list without containerd's half is refused: {code}")
    check('kvmlet_agent_proxy_upstream_up{upstream="unix://' in metrics() and
          "} 0" in metrics().split("kvmlet_agent_proxy_upstream_up")[-1][:200],
          "upstream_up is 0")
    check('kvmlet_agent_proxy_forwarded_total{method="ContainerStatus",code="Unavailable"}'
          in metrics(), "forwarded calls that found no upstream are counted")
    CTRD.start(API)
    wait_for("containerd's pod through the proxy again", lambda: c().code_of(
        c().runtime, "ContainerStatus",
        API.ContainerStatusRequest(container_id=STATE["bb_ct"]))[0] == SC.OK, 30)
    if "net_ct" in STATE:
        why = busybox_pings(STATE["vm_ip"])
        check(why is None, f"containerd back: the busybox pod cannot ping the VM: {why}")


def write_conf(vm_extra=""):
    with open(CONF, "w") as f:
        f.write(f"[proxy]\nupstream = unix://{CTRD.sock}\nvm_image_prefixes = {VM_PREFIX}\n"
                "timeout_ms = 120000\n"
                f"[vm]\nuid_base = {UID_BASE}\nuid_count = 16\n{vm_extra}")


def test_vm_backend_down():
    """The reverse: kvmlet's VM backend cannot open (its VMM is missing);
    the agent still serves containerd's pods, and VM pod calls are
    UNAVAILABLE; with the backend back, the VM pod (which ran on) is there."""
    AG.stop()
    write_conf("vmm = /nonexistent/kvmlet-vmm\n")
    AG.start(API)
    check("VM pods unavailable" in AG.log_text(20000), "the agent says why")
    st = c().runtime("ContainerStatus",
                     API.ContainerStatusRequest(container_id=STATE["bb_ct"])).status
    check(st.state == API.CONTAINER_RUNNING, "containerd's pod keeps working")
    pods = ids(c().runtime("ListPodSandbox").items)
    check(STATE["bb_sb"] in pods, "ListPodSandbox: containerd's half, kvmlet's empty")
    if "net_ct" in STATE:
        why = busybox_pings(STATE["vm_ip"])
        check(why is None, f"kvmlet's side down: the busybox pod cannot ping the VM: {why}")
    code, details = c().code_of(c().runtime, "RunPodSandbox", API.RunPodSandboxRequest(
        config=sandbox_config(f"vm2-{TAG}", str(uuid.uuid4())), runtime_handler="kvmlet"))
    check(code == SC.UNAVAILABLE, f"a VM pod cannot start: {code} {details}")
    if "vm_ct" in STATE:
        code, _ = c().code_of(c().runtime, "ContainerStatus",
                              API.ContainerStatusRequest(container_id=STATE["vm_ct"]))
        check(code == SC.UNAVAILABLE, f"the VM pod's calls are UNAVAILABLE: {code}")
    AG.stop()
    write_conf()
    AG.start(API)
    if "vm_ct" in STATE:
        st = c().runtime("ContainerStatus",
                         API.ContainerStatusRequest(container_id=STATE["vm_ct"])).status
        check(st.state == API.CONTAINER_RUNNING, "the VM pod is back, still running")


def test_remove_forgets():
    for ct, sb in ((STATE["bb_ct"], STATE["bb_sb"]),
                   (STATE.get("vm_ct"), STATE.get("vm_sb")),
                   (STATE.get("net_ct"), STATE.get("net_sb"))):
        if not ct:
            continue
        c().runtime("StopContainer", API.StopContainerRequest(container_id=ct, timeout=0),
                    timeout=TIMEOUT)
        c().runtime("RemoveContainer", API.RemoveContainerRequest(container_id=ct),
                    timeout=TIMEOUT)
        check(ct not in owners_file(), "RemoveContainer forgets the container")
        c().runtime("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=sb),
                    timeout=TIMEOUT)
        c().runtime("RemovePodSandbox", API.RemovePodSandboxRequest(pod_sandbox_id=sb),
                    timeout=TIMEOUT)
        check(sb not in owners_file(), "RemovePodSandbox forgets the sandbox and its pod")
    check(STATE["bb_sb"] not in ids(DIRECT.runtime("ListPodSandbox").items),
          "containerd's pod is gone")
    c().image("RemoveImage", API.RemoveImageRequest(image=API.ImageSpec(image=BUSYBOX_REF)))
    check(not DIRECT.image("ImageStatus", API.ImageStatusRequest(
        image=API.ImageSpec(image=BUSYBOX_REF))).image.id,
        "RemoveImage of busybox reached containerd (the map knew its owner)")


def test_metrics():
    m = metrics()
    check('kvmlet_agent_proxy_forwarded_total{method="StopContainer",code="OK"}' in m,
          "forwarded calls are counted by method and code")
    check("kvmlet_agent_proxy_owners " in m, "the owner map's size")


def test_clean_exit():
    """Exit 0 on SIGTERM, no sanitizer report in any run's log (the ASan build runs this too)."""
    why = AG.stop_clean()
    check(why is None, why)


if __name__ == "__main__":
    main([test_version_and_status, test_container_pod_upstream, test_vm_side_local,
          test_pod_network, test_merged_lists, test_restart_keeps_routes, test_upstream_down,
          test_vm_backend_down, test_remove_forgets, test_metrics, test_clean_exit])

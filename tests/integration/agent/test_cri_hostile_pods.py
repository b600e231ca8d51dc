#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hostile VM-pod requests to kvmlet-agent: each must end in a clear gRPC
error (the code the test names, a message that says what is wrong), no
VM may start for it, and the agent keeps serving (Version answers after
every one; a well-formed pod runs at the end).

- bad ids: empty, not hex, a path, 64 KiB long, unknown: NOT_FOUND or
  INVALID_ARGUMENT, never OK, UNKNOWN or INTERNAL;
- oversized fields: a 1 MiB pod name, 100,000 labels, a 64 KiB hostname;
- path escapes: a relative log_directory, log_path with `..` or absolute,
  the container's log directory a symlink pointing outside; a mounted
  directory holding symlinks to a file outside it (the file must not reach
  the mount's ISO disk) and a relative mount host path;
- a second container in a pod: INVALID_ARGUMENT "kvmlet runs one VM per pod";
- an unknown runtime_handler; an unknown kvmlet.io/ annotation;
- an image that is not a VM image (busybox).

Usage: test_cri_hostile_pods.py PATH-TO-kvmlet-agent PATH-TO-kvmlet-image"""
import atexit
import os
import shutil
import sys
import tempfile

from harness import FIRMWARE, Failure, check, kvm_usable, main, skip
import busybox_image
import cri_client
import kubelet
import kvmlet_agent
import registry

cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE_TOOL = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TMP = tempfile.mkdtemp(prefix="kvmlet-hostile-pods-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
API = cri_client.load_api()
SC = grpc.StatusCode
CGROUP_ROOT = f"/kvmlet-hostile-{os.getpid()}"
atexit.register(kubelet.remove_cgroups, CGROUP_ROOT)
BAD = {SC.OK, SC.UNKNOWN, SC.INTERNAL, SC.UNIMPLEMENTED}

for why in (registry.available(), busybox_image.available()):
    if why:
        skip(why)
if not kvm_usable():
    skip("/dev/kvm is not usable")
if not os.path.exists(FIRMWARE):
    skip(f"{FIRMWARE} is missing")

REG = registry.Registry(TMP).start()
atexit.register(REG.stop)
AG = kvmlet_agent.Agent(AGENT, os.path.join(TMP, "agent"), insecure=[REG.host]).start(API)
atexit.register(kvmlet_agent.remove_all_pods, AG, API, CGROUP_ROOT)
C = AG.client
if kvmlet_agent.pods_missing(C, API):
    skip(kvmlet_agent.pods_missing(C, API))
POD_REF = kvmlet_agent.push_pod_image(IMAGE_TOOL, FIRMWARE, TMP, REG.host)
BUSYBOX_REF, _ = busybox_image.push(busybox_image.build(TMP), REG.host)
KL = kubelet.Kubelet(C, API, os.path.join(TMP, "node"), CGROUP_ROOT, runtime_handler="kvmlet")
VMMS_BEFORE = set(kvmlet_agent.vmm_pids(CGROUP_ROOT))


def serving():
    code, details = C.code_of(C.runtime, "Version", timeout=10)
    check(code == SC.OK, f"the agent stopped serving: Version {code} {details}\n"
          f"{AG.log_text()}")
    check(AG.proc.poll() is None, f"the agent exited {AG.proc.returncode}\n{AG.log_text()}")


def refused(method, request, codes, words=(), service="runtime"):
    """The call fails with one of codes and a message holding each of words."""
    fn = C.runtime if service == "runtime" else C.image
    code, details = C.code_of(fn, method, request, timeout=60)
    check(code in codes and code not in BAD,
          f"{method}: {code} {details!r}, expected one of {sorted(c.name for c in codes)}")
    for w in words:
        check(w.lower() in (details or "").lower(), f"{method}: message {details!r} lacks {w!r}")
    serving()
    return details


def pod(name, **kw):
    return kubelet.PodSpec(name, namespace="hostile", containers=[
        kubelet.ContainerSpec("main", POD_REF)], **kw)


def run_pod(p, **over):
    cfg = KL.sandbox_config(p)
    for k, v in over.items():
        setattr(cfg, k, v)
    os.makedirs(KL.pod_log_dir(p), exist_ok=True)
    return C.runtime("RunPodSandbox", API.RunPodSandboxRequest(
        config=cfg, runtime_handler="kvmlet"), timeout=240).pod_sandbox_id, cfg


def cleanup(sid):
    for method, req in (("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=sid)),
                        ("RemovePodSandbox", API.RemovePodSandboxRequest(pod_sandbox_id=sid))):
        C.code_of(C.runtime, method, req, timeout=120)


def image_id(ref):
    return C.image("PullImage", API.PullImageRequest(image=API.ImageSpec(image=ref)),
                   timeout=120).image_ref


def create_req(p, sid, cfg, mutate=None, image=None):
    c = p.containers[0]
    os.makedirs(os.path.join(KL.pod_log_dir(p), c.name), exist_ok=True)
    ccfg = KL.container_config(p, c, image or image_id(POD_REF), 0)
    if mutate:
        mutate(ccfg)
    return API.CreateContainerRequest(pod_sandbox_id=sid, config=ccfg, sandbox_config=cfg)


IDS = ["", "zz", "../../etc/passwd", "/etc/passwd", "a" * 65536, "0" * 64, "%s\n" % ("f" * 63)]


def test_bad_ids():
    ok = {SC.NOT_FOUND, SC.INVALID_ARGUMENT}
    for i in IDS:
        for method, req in (
                ("PodSandboxStatus", API.PodSandboxStatusRequest(pod_sandbox_id=i)),
                ("ContainerStatus", API.ContainerStatusRequest(container_id=i)),
                ("StartContainer", API.StartContainerRequest(container_id=i)),
                ("ExecSync", API.ExecSyncRequest(container_id=i, cmd=["echo"], timeout=1)),
                ("ReopenContainerLog", API.ReopenContainerLogRequest(container_id=i)),
                ("ContainerStats", API.ContainerStatsRequest(container_id=i))):
            refused(method, req, ok)
        # Stop and Remove of what is not there must not fail (api.proto);
        # containerd answers NOT_FOUND to the Stops. Never anything else.
        for method, req in (
                ("StopContainer", API.StopContainerRequest(container_id=i)),
                ("RemoveContainer", API.RemoveContainerRequest(container_id=i)),
                ("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=i)),
                ("RemovePodSandbox", API.RemovePodSandboxRequest(pod_sandbox_id=i))):
            code, details = C.code_of(C.runtime, method, req, timeout=30)
            check(code in (SC.OK, SC.NOT_FOUND, SC.INVALID_ARGUMENT),
                  f"{method}({i[:20]!r}): {code} {details!r}")
            serving()
        # a bad id in a List filter matches nothing
        r = C.runtime("ListContainers", API.ListContainersRequest(
            filter=API.ContainerFilter(id=i, pod_sandbox_id=i)))
        check(len(r.containers) == 0, f"ListContainers id={i[:20]!r}: {r}")


def test_oversized_fields():
    p = pod("big")
    cfg = KL.sandbox_config(p)
    cfg.metadata.name = "n" * (1 << 20)
    refused("RunPodSandbox", API.RunPodSandboxRequest(config=cfg, runtime_handler="kvmlet"),
            {SC.INVALID_ARGUMENT, SC.RESOURCE_EXHAUSTED}, ["name"])
    cfg = KL.sandbox_config(p)
    for i in range(100000):
        cfg.labels[f"l{i}"] = "v"
    refused("RunPodSandbox", API.RunPodSandboxRequest(config=cfg, runtime_handler="kvmlet"),
            {SC.INVALID_ARGUMENT, SC.RESOURCE_EXHAUSTED}, ["label"])
    cfg = KL.sandbox_config(p)
    cfg.hostname = "h" * 65536
    refused("RunPodSandbox", API.RunPodSandboxRequest(config=cfg, runtime_handler="kvmlet"),
            {SC.INVALID_ARGUMENT}, ["hostname"])
    check(not C.runtime("ListPodSandbox").items, "an oversized sandbox was kept")


def test_log_directory_escapes():
    """log_directory must be absolute (kubelet's is; the agent does not know
    kubelet's root, so an absolute one is kubelet's to choose). Without
    one there is no CRI log, which is allowed."""
    p = pod("logdir")
    for bad in ("var/log/pods/x", "./x", "/var/log/pods/../../../etc", ""):
        cfg = KL.sandbox_config(p)
        cfg.log_directory = bad
        try:
            sid = C.runtime("RunPodSandbox", API.RunPodSandboxRequest(
                config=cfg, runtime_handler="kvmlet"), timeout=60).pod_sandbox_id
        except grpc.RpcError as e:
            check(e.code() == SC.INVALID_ARGUMENT and "log" in e.details().lower(),
                  f"log_directory {bad!r}: {e.code()} {e.details()!r}")
            serving()
            continue
        cleanup(sid)
        check(bad == "", f"log_directory {bad!r} was accepted")


def test_log_path_escapes():
    p = pod("logpath")
    sid, cfg = run_pod(p)
    try:
        outside = os.path.join(TMP, "outside")
        os.makedirs(outside)
        for bad in ("../../escape.log", "/tmp/abs.log", "main/../../x.log"):
            def mutate(c, bad=bad):
                c.log_path = bad
            refused("CreateContainer", create_req(p, sid, cfg, mutate), {SC.INVALID_ARGUMENT},
                    ["log"])
        # the container's log directory is a symlink to a directory outside
        link = os.path.join(KL.pod_log_dir(p), "evil")
        os.symlink(outside, link)

        def via_link(c):
            c.log_path = "evil/0.log"
        refused("CreateContainer", create_req(p, sid, cfg, via_link), {SC.INVALID_ARGUMENT},
                ["log"])
        check(os.listdir(outside) == [], f"something was written outside: {os.listdir(outside)}")
        check(not C.runtime("ListContainers").containers, "a refused container was kept")
    finally:
        cleanup(sid)


def iso_files(sid_root):
    """The ISO disks the backend made for mounts, anywhere under the agent's root."""
    return [os.path.join(d, f) for d, _, fs in os.walk(sid_root) for f in fs
            if f.startswith("mount") and f.endswith(".iso")]


def test_mount_escapes():
    """A mount never fails a VM pod for what it points at (docs/cri.md), but
    nothing outside it may reach the guest: a symlink inside a mounted
    directory that points outside is left out of the mount's disk, and a
    relative host path is refused or skipped, never resolved against the
    agent's working directory."""
    p = pod("mounts")
    sid, cfg = run_pod(p)
    try:
        secret = os.path.join(TMP, "outside-secret")
        marker = b"KVMLET-OUTSIDE-MARKER-" + os.urandom(8).hex().encode()
        with open(secret, "wb") as f:
            f.write(marker)
        vol = os.path.join(TMP, "node", "vol-escape")
        os.makedirs(vol)
        with open(os.path.join(vol, "inside.txt"), "w") as f:
            f.write("inside\n")
        os.symlink(secret, os.path.join(vol, "leak"))
        os.symlink("../outside-secret", os.path.join(vol, "leak2"))

        def mutate(c):
            c.mounts.append(API.Mount(host_path=vol, container_path="/data", readonly=True))
            c.mounts.append(API.Mount(host_path="relative/dir", container_path="/rel",
                                      readonly=True))
        before = set(iso_files(AG.root))
        code, details = C.code_of(C.runtime, "CreateContainer", create_req(p, sid, cfg, mutate),
                                  timeout=120)
        serving()
        if code == SC.OK:
            isos = set(iso_files(AG.root)) - before
            check(isos, "no ISO disk was made for the mounts")
            for iso in isos:
                with open(iso, "rb") as f:
                    data = f.read()
                check(marker not in data, f"{iso}: a file outside the mount reached the disk")
            check(any(b"inside" in open(i, "rb").read() for i in isos),
                  "the mount's own file is not on its disk")
        else:
            check(code == SC.INVALID_ARGUMENT and "mount" in details.lower(),
                  f"CreateContainer with the mounts: {code} {details!r}")
    finally:
        cleanup(sid)


def test_mount_dotdot():
    """A mount whose host path climbs out with '..' is refused, never walked."""
    p = pod("dotdot")
    sid, cfg = run_pod(p)
    try:
        for bad in (os.path.join(TMP, "node", "..", "..", "..", "etc"), "/var/lib/kubelet/../../etc"):
            def mutate(c, bad=bad):
                c.mounts.append(API.Mount(host_path=bad, container_path="/x", readonly=True))
            refused("CreateContainer", create_req(p, sid, cfg, mutate), {SC.INVALID_ARGUMENT},
                    ["host_path", ".."])
        check(not C.runtime("ListContainers").containers, "a refused container was kept")
    finally:
        cleanup(sid)


def test_second_container():
    p = pod("two")
    sid, cfg = run_pod(p)
    try:
        first = C.runtime("CreateContainer", create_req(p, sid, cfg), timeout=120).container_id

        def second(c):
            c.metadata.name = "sidecar"
            c.log_path = "sidecar/0.log"
            c.labels["io.kubernetes.container.name"] = "sidecar"
        os.makedirs(os.path.join(KL.pod_log_dir(p), "sidecar"), exist_ok=True)
        refused("CreateContainer", create_req(p, sid, cfg, second), {SC.INVALID_ARGUMENT},
                ["kvmlet runs one VM per pod"])
        cs = C.runtime("ListContainers").containers
        check([c.id for c in cs] == [first], f"containers after the refusal: {cs}")
        C.runtime("RemoveContainer", API.RemoveContainerRequest(container_id=first), timeout=120)
    finally:
        cleanup(sid)


def test_unknown_handler():
    p = pod("handler")
    cfg = KL.sandbox_config(p)
    refused("RunPodSandbox", API.RunPodSandboxRequest(config=cfg, runtime_handler="nope"),
            {SC.INVALID_ARGUMENT, SC.NOT_FOUND, SC.FAILED_PRECONDITION}, ["nope"])
    kept = C.runtime("ListPodSandbox", API.ListPodSandboxRequest(filter=API.PodSandboxFilter(
        label_selector={kubelet.POD_UID_LABEL: p.uid}))).items
    check(not kept, "a sandbox with an unknown handler was kept")


def test_unknown_annotation():
    p = pod("annot", annotations={"kvmlet.io/no-such-knob": "1"})
    code, details = C.code_of(C.runtime, "RunPodSandbox", API.RunPodSandboxRequest(
        config=KL.sandbox_config(p), runtime_handler="kvmlet"), timeout=60)
    if code == SC.OK:  # may be refused when the VM is made, at CreateContainer
        sid = C.runtime("ListPodSandbox", API.ListPodSandboxRequest(
            filter=API.PodSandboxFilter(label_selector={kubelet.POD_UID_LABEL: p.uid}))).items[0].id
        try:
            cfg = KL.sandbox_config(p)
            refused("CreateContainer", create_req(p, sid, cfg), {SC.INVALID_ARGUMENT},
                    ["kvmlet.io/no-such-knob"])
        finally:
            cleanup(sid)
    else:
        check(code == SC.INVALID_ARGUMENT and "kvmlet.io/no-such-knob" in details,
              f"RunPodSandbox with kvmlet.io/no-such-knob: {code} {details!r}")
        serving()


def test_not_a_vm_image():
    code, details = C.code_of(C.image, "PullImage", API.PullImageRequest(
        image=API.ImageSpec(image=BUSYBOX_REF)), timeout=120)
    if code != SC.OK:  # refused at pull time: fine, if it says why
        check(code not in BAD and details, f"PullImage busybox: {code} {details!r}")
        serving()
        return
    p = pod("notvm")
    sid, cfg = run_pod(p)
    try:
        refused("CreateContainer", create_req(p, sid, cfg, image=image_id(BUSYBOX_REF)),
                {SC.INVALID_ARGUMENT, SC.FAILED_PRECONDITION}, ["image"])
    finally:
        cleanup(sid)


def test_still_runs_a_pod():
    """After all of the above, a well-formed pod still runs, and no VM was
    left from a refused request."""
    leaked = set(kvmlet_agent.vmm_pids(CGROUP_ROOT)) - VMMS_BEFORE
    check(not leaked, f"VMs left by refused requests: {leaked}")
    p = pod("good")
    sid, cfg = KL.run_pod(p)
    try:
        cid = KL.start_container(p, sid, cfg, p.containers[0])
        KL.wait_state(p, cid, API.CONTAINER_RUNNING)
        kubelet.wait_log_line(os.path.join(KL.pod_log_dir(p), "main", "0.log"),
                              kvmlet_agent.POD_BANNER)
        KL.kill_pod(p, sid, grace=10)
        KL.gc_pod(p, sid)
    finally:
        cleanup(sid)


def test_agent_exits_clean():
    """After all of it the agent ends cleanly on SIGTERM, with no sanitizer
    report (the ASan build runs this test too)."""
    why = AG.stop_clean()
    check(why is None, why)


if __name__ == "__main__":
    main([test_bad_ids, test_oversized_fields, test_log_directory_escapes,
          test_log_path_escapes, test_mount_escapes, test_mount_dotdot,
          test_second_container,
          test_unknown_handler, test_unknown_annotation, test_not_a_vm_image,
          test_still_runs_a_pod, test_agent_exits_clean])

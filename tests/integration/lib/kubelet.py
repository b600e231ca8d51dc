# SPDX-License-Identifier: Apache-2.0
"""A replay of what kubelet 1.26-1.29 sends to a CRI runtime over a pod's
life, runtime-agnostic: the same Kubelet object drives containerd or
kvmlet-agent through a cri_client.CriClient, and records every call with
its answer so that tests can compare the two runtimes' shapes.

Where each request comes from (kubernetes/kubernetes, pkg/kubelet/):
- kuberuntime/kuberuntime_sandbox.go generatePodSandboxConfig and
  kuberuntime_sandbox_linux.go: metadata, labels = pod labels plus
  io.kubernetes.pod.{name,namespace,uid}, annotations = pod annotations,
  hostname, log_directory /var/log/pods/<ns>_<name>_<uid>, dns_config,
  port_mappings, linux {cgroup_parent, security_context, overhead,
  resources}.
- kuberuntime/kuberuntime_container.go generateContainerConfig and
  startContainer, kuberuntime_container_linux.go: image = the image ref
  that ImageStatus/PullImage returned (user_specified_image = what the pod
  says), labels.go newContainerLabels/newContainerAnnotations, log_path
  "<container>/<restartCount>.log", mounts from kubelet_pods.go makeMounts
  (/etc/hosts, /dev/termination-log, the service-account token volume),
  linux resources (cpu shares from the request, quota/period from the
  limit, memory limit, oom_score_adj), the security context with the
  default masked and read-only paths.
- pleg/generic.go relist and kuberuntime_manager.go GetPodStatus: the relist
  loop (ListPodSandbox and ListContainers unfiltered, then per pod a label
  filter on io.kubernetes.pod.uid, PodSandboxStatus and ContainerStatus).
- A restart keeps the dead container (container GC removes it later,
  MaxPerPodContainer = 1) and creates attempt restartCount+1 alongside it
  in the same sandbox (startContainer: restartCount =
  containerStatus.RestartCount + 1).
- Removal: killPodWithSyncResult (StopContainer with the grace period,
  StopPodSandbox), then container GC (ContainerStatus for the log cleanup,
  RemoveContainer) and sandbox GC (RemovePodSandbox, then the pod log
  directory is deleted).

Nothing here waits with a fixed sleep: every wait is a poll of a CRI
answer with a deadline."""
import json
import os
import re
import shutil
import time
import uuid

POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"

# pkg/securitycontext/util.go (1.26-1.29)
DEFAULT_MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                        "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                          "/proc/sysrq-trigger"]
CPU_PERIOD = 100000  # kubelet's cfs period, in us
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class Call:
    """One recorded call: method, request, gRPC code name and response (or
    the error's details)."""

    def __init__(self, method, request, code, response):
        self.method, self.request, self.code, self.response = method, request, code, response

    def __repr__(self):
        return f"<{self.method} {self.code}>"


class ContainerSpec:
    """What a v1.Container says that kubelet turns into a ContainerConfig."""

    def __init__(self, name, image, command=(), args=(), env=None, cpu_request_m=100,
                 cpu_limit_m=1000, memory_limit=64 << 20, ports=()):
        self.name, self.image = name, image
        self.command, self.args = list(command), list(args)
        self.env = dict(env or {})
        self.cpu_request_m, self.cpu_limit_m = cpu_request_m, cpu_limit_m
        self.memory_limit = memory_limit
        self.ports = list(ports)  # (container_port, protocol name)
        self.termination_message_path = "/dev/termination-log"


class PodSpec:
    """A v1.Pod as far as kubelet's CRI requests use it."""

    def __init__(self, name, namespace="default", labels=None, annotations=None,
                 containers=(), grace=30, uid=None):
        self.name, self.namespace = name, namespace
        self.uid = uid or str(uuid.uuid4())
        self.labels = dict(labels or {})
        # What the apiserver path adds to every pod kubelet sees.
        self.annotations = {"kubernetes.io/config.source": "api",
                            "kubernetes.io/config.seen": "2026-12-08T00:00:00.000000000Z",
                            **(annotations or {})}
        self.containers = list(containers)
        self.grace = grace
        self.attempt = 0


def fnv_hash(text):
    """A stand-in for kubecontainer.HashContainer (fnv-32a of the container
    spec), printed in hex as kubelet does."""
    h = 0x811c9dc5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    return format(h, "x")


class Kubelet:
    """kubelet's side of the CRI conversation for one node root."""

    def __init__(self, client, api, root, cgroup_root, runtime_handler=""):
        self.c, self.api = client, api
        self.root = root  # stands for / : var/log/pods, var/lib/kubelet live here
        self.cgroup_root = cgroup_root  # e.g. /kvmlet-crictest-1234 (cgroupfs style)
        self.handler = runtime_handler
        self.calls = []
        self.grpc = client.grpc

    # --- recording

    def _call(self, service, method, request, timeout=60):
        req_cls, _ = self.c.types(service, method)
        request = request if request is not None else req_cls()
        try:
            fn = self.c.runtime if service == "RuntimeService" else self.c.image
            resp = fn(method, request, timeout=timeout)
            self.calls.append(Call(method, request, "OK", resp))
            return resp
        except self.grpc.RpcError as e:
            self.calls.append(Call(method, request, e.code().name, e.details()))
            raise

    def runtime(self, method, request=None, timeout=60):
        return self._call("RuntimeService", method, request, timeout)

    def image(self, method, request=None, timeout=300):
        return self._call("ImageService", method, request, timeout)

    def answers(self, method):
        """Every recorded successful response to method, in order."""
        return [c.response for c in self.calls if c.method == method and c.code == "OK"]

    # --- node start-up and the periodic calls

    def connect(self, pod_cidr="10.244.0.0/24"):
        """validateServiceConnection, the image client, the first Status,
        then UpdatePodCIDR once the node has its CIDR."""
        v = self.runtime("Version", self.api.VersionRequest(version="0.1.0"))
        fs = self.image("ImageFsInfo")
        st = self.runtime("Status")
        self.runtime("UpdateRuntimeConfig", self.api.UpdateRuntimeConfigRequest(
            runtime_config=self.api.RuntimeConfig(
                network_config=self.api.NetworkConfig(pod_cidr=pod_cidr))))
        return v, fs, st

    def relist(self, pods=()):
        """One PLEG relist, then GetPodStatus for each pod given. Returns
        {uid: (sandbox statuses, container statuses)}."""
        A = self.api
        self.runtime("ListPodSandbox", A.ListPodSandboxRequest())
        self.runtime("ListContainers", A.ListContainersRequest(filter=A.ContainerFilter()))
        out = {}
        for pod in pods:
            out[pod.uid] = self.pod_status(pod)
        return out

    def pod_status(self, pod):
        A = self.api
        sel = {POD_UID_LABEL: pod.uid}
        sbs = self.runtime("ListPodSandbox", A.ListPodSandboxRequest(
            filter=A.PodSandboxFilter(label_selector=sel))).items
        sstat = [self.runtime("PodSandboxStatus",
                              A.PodSandboxStatusRequest(pod_sandbox_id=s.id)).status
                 for s in sorted(sbs, key=lambda s: -s.created_at)]
        cs = self.runtime("ListContainers", A.ListContainersRequest(
            filter=A.ContainerFilter(label_selector=sel))).containers
        cstat = [self.runtime("ContainerStatus",
                              A.ContainerStatusRequest(container_id=c.id)).status
                 for c in sorted(cs, key=lambda c: -c.created_at)]
        return sstat, cstat

    # --- pod start

    def pod_log_dir(self, pod):
        return os.path.join(self.root, "var", "log", "pods",
                            f"{pod.namespace}_{pod.name}_{pod.uid}")

    def pod_dir(self, pod):
        return os.path.join(self.root, "var", "lib", "kubelet", "pods", pod.uid)

    def cgroup_parent(self, pod):
        return f"{self.cgroup_root}/kubepods/burstable/pod{pod.uid}"

    def sandbox_config(self, pod):
        A = self.api
        labels = dict(pod.labels)
        labels.update({POD_NAME_LABEL: pod.name, POD_NAMESPACE_LABEL: pod.namespace,
                       POD_UID_LABEL: pod.uid})
        ports = [A.PortMapping(protocol=getattr(A, proto), container_port=port)
                 for c in pod.containers for port, proto in c.ports]
        ns = A.NamespaceOption(network=A.POD, pid=A.CONTAINER, ipc=A.POD)
        cpu_limit = sum(c.cpu_limit_m for c in pod.containers)
        mem_limit = sum(c.memory_limit for c in pod.containers)
        return A.PodSandboxConfig(
            metadata=A.PodSandboxMetadata(name=pod.name, namespace=pod.namespace,
                                          uid=pod.uid, attempt=pod.attempt),
            hostname=pod.name,
            log_directory=self.pod_log_dir(pod),
            dns_config=A.DNSConfig(servers=["10.96.0.10"],
                                   searches=[f"{pod.namespace}.svc.cluster.local",
                                             "svc.cluster.local", "cluster.local"],
                                   options=["ndots:5"]),
            port_mappings=ports,
            labels=labels,
            annotations=pod.annotations,
            linux=A.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent(pod),
                security_context=A.LinuxSandboxSecurityContext(
                    namespace_options=ns,
                    seccomp=A.SecurityProfile(profile_type=A.SecurityProfile.Unconfined)),
                overhead=A.LinuxContainerResources(),
                resources=A.LinuxContainerResources(
                    cpu_period=CPU_PERIOD, cpu_quota=cpu_limit * CPU_PERIOD // 1000,
                    cpu_shares=max(2, sum(c.cpu_request_m for c in pod.containers)
                                   * 1024 // 1000),
                    memory_limit_in_bytes=mem_limit)))

    def run_pod(self, pod, timeout=240):
        """createPodSandbox: the log directory first (0755), then
        RunPodSandbox (kubelet's deadline: 2x the runtime request timeout),
        then PodSandboxStatus for the IPs. Returns (id, config)."""
        os.makedirs(self.pod_log_dir(pod), mode=0o755, exist_ok=True)
        config = self.sandbox_config(pod)
        r = self.runtime("RunPodSandbox", self.api.RunPodSandboxRequest(
            config=config, runtime_handler=self.handler), timeout=timeout)
        self.runtime("PodSandboxStatus",
                     self.api.PodSandboxStatusRequest(pod_sandbox_id=r.pod_sandbox_id))
        return r.pod_sandbox_id, config

    def ensure_image(self, ref):
        """EnsureImageExists: ImageStatus, PullImage when absent. Returns
        the image ref kubelet puts into CreateContainer."""
        spec = self.api.ImageSpec(image=ref)
        st = self.image("ImageStatus", self.api.ImageStatusRequest(image=spec))
        if st.HasField("image") and st.image.id:
            return st.image.id
        return self.image("PullImage", self.api.PullImageRequest(image=spec)).image_ref

    def _volume_files(self, pod, c):
        """The host side of kubelet's mounts: etc-hosts, the termination
        log file, and a projected service-account volume in the atomic
        writer's layout (..<timestamp> directory, ..data symlink, one
        symlink per key)."""
        pdir = self.pod_dir(pod)
        hosts = os.path.join(pdir, "etc-hosts")
        os.makedirs(pdir, exist_ok=True)
        with open(hosts, "w") as f:
            f.write("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
                    f"10.244.0.2\t{pod.name}\n")
        term_dir = os.path.join(pdir, "containers", c.name)
        os.makedirs(term_dir, exist_ok=True)
        term = os.path.join(term_dir, uuid.uuid4().hex[:8])
        open(term, "w").close()
        os.chmod(term, 0o666)
        sa = os.path.join(pdir, "volumes", "kubernetes.io~projected", "kube-api-access-x7k2q")
        if not os.path.isdir(sa):
            ts = os.path.join(sa, "..2026_12_08_00_00_00.000000001")
            os.makedirs(ts)
            for key, value in (("token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
                               ("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
                               ("namespace", pod.namespace)):
                with open(os.path.join(ts, key), "w") as f:
                    f.write(value)
            os.symlink(os.path.basename(ts), os.path.join(sa, "..data"))
            for key in ("token", "ca.crt", "namespace"):
                os.symlink(os.path.join("..data", key), os.path.join(sa, key))
        return hosts, term, sa

    def container_config(self, pod, c, image_ref, restart_count):
        A = self.api
        hosts, term, sa = self._volume_files(pod, c)
        labels = {POD_NAME_LABEL: pod.name, POD_NAMESPACE_LABEL: pod.namespace,
                  POD_UID_LABEL: pod.uid, CONTAINER_NAME_LABEL: c.name}
        annotations = {
            "io.kubernetes.container.hash": fnv_hash(json.dumps(
                [c.name, c.image, c.command, c.args, sorted(c.env.items())])),
            "io.kubernetes.container.restartCount": str(restart_count),
            "io.kubernetes.container.terminationMessagePath": c.termination_message_path,
            "io.kubernetes.container.terminationMessagePolicy": "File",
            "io.kubernetes.pod.terminationGracePeriod": str(pod.grace),
        }
        if c.ports:
            annotations["io.kubernetes.container.ports"] = json.dumps(
                [{"containerPort": p, "protocol": proto} for p, proto in c.ports],
                separators=(",", ":"))
        envs = [A.KeyValue(key=k, value=v) for k, v in c.env.items()]
        envs += [A.KeyValue(key="KUBERNETES_SERVICE_HOST", value="10.96.0.1"),
                 A.KeyValue(key="KUBERNETES_SERVICE_PORT", value="443"),
                 A.KeyValue(key="KUBERNETES_PORT", value="tcp://10.96.0.1:443")]
        mounts = [
            A.Mount(container_path=SA_MOUNT, host_path=sa, readonly=True,
                    propagation=A.PROPAGATION_PRIVATE),
            A.Mount(container_path="/etc/hosts", host_path=hosts,
                    propagation=A.PROPAGATION_PRIVATE),
            A.Mount(container_path=c.termination_message_path, host_path=term,
                    propagation=A.PROPAGATION_PRIVATE),
        ]
        shares = max(2, c.cpu_request_m * 1024 // 1000)
        return A.ContainerConfig(
            metadata=A.ContainerMetadata(name=c.name, attempt=restart_count),
            image=A.ImageSpec(image=image_ref, user_specified_image=c.image),
            command=c.command, args=c.args,
            labels=labels, annotations=annotations,
            mounts=mounts,
            log_path=os.path.join(c.name, f"{restart_count}.log"),
            envs=envs,
            linux=A.LinuxContainerConfig(
                resources=A.LinuxContainerResources(
                    cpu_period=CPU_PERIOD, cpu_quota=c.cpu_limit_m * CPU_PERIOD // 1000,
                    cpu_shares=shares, memory_limit_in_bytes=c.memory_limit,
                    oom_score_adj=1000 - (1000 * c.memory_limit) // (16 << 30)),
                security_context=A.LinuxContainerSecurityContext(
                    namespace_options=A.NamespaceOption(network=A.POD, pid=A.CONTAINER,
                                                        ipc=A.POD),
                    masked_paths=DEFAULT_MASKED_PATHS,
                    readonly_paths=DEFAULT_READONLY_PATHS,
                    seccomp=A.SecurityProfile(profile_type=A.SecurityProfile.Unconfined))))

    def start_container(self, pod, sandbox_id, sandbox_config, c, restart_count=0):
        """startContainer: image, the container's log directory, Create,
        Start. Returns the container id."""
        image_ref = self.ensure_image(c.image)
        os.makedirs(os.path.join(self.pod_log_dir(pod), c.name), mode=0o755, exist_ok=True)
        config = self.container_config(pod, c, image_ref, restart_count)
        cid = self.runtime("CreateContainer", self.api.CreateContainerRequest(
            pod_sandbox_id=sandbox_id, config=config,
            sandbox_config=sandbox_config)).container_id
        self.runtime("StartContainer", self.api.StartContainerRequest(container_id=cid))
        return cid

    # --- while it runs

    def container_status(self, cid):
        return self.runtime("ContainerStatus",
                            self.api.ContainerStatusRequest(container_id=cid)).status

    def wait_state(self, pod, cid, state, deadline_s=60):
        """Relists until the container is in state (a CRI ContainerState);
        returns its status."""
        end = time.monotonic() + deadline_s
        while True:
            self.relist([pod])
            st = self.container_status(cid)
            if st.state == state:
                return st
            if time.monotonic() > end:
                raise TimeoutError(f"container {cid[:12]} stayed in state {st.state}, "
                                   f"not {state}")
            time.sleep(0.2)  # polling interval, not a synchronisation

    def probe(self, cid, cmd, timeout_s=1):
        """An exec probe: ExecSync with the probe's timeoutSeconds.
        Returns the response; a DEADLINE_EXCEEDED raises (a probe timeout)."""
        return self.runtime("ExecSync", self.api.ExecSyncRequest(
            container_id=cid, cmd=list(cmd), timeout=timeout_s), timeout=timeout_s + 60)

    def kill_container(self, cid, grace):
        """killContainer: StopContainer with the grace period; kubelet's
        deadline is 2 minutes plus the grace."""
        self.runtime("StopContainer", self.api.StopContainerRequest(
            container_id=cid, timeout=grace), timeout=120 + grace)

    # --- pod end

    def kill_pod(self, pod, sandbox_id, grace=None):
        """killPodWithSyncResult: stop each running container, then the sandbox."""
        grace = pod.grace if grace is None else grace
        _, cstat = self.pod_status(pod)
        for st in cstat:
            if st.state == self.api.CONTAINER_RUNNING:
                self.kill_container(st.id, grace)
        self.runtime("StopPodSandbox", self.api.StopPodSandboxRequest(pod_sandbox_id=sandbox_id))

    def gc_pod(self, pod, sandbox_id):
        """Container GC then sandbox GC for a deleted pod."""
        _, cstat = self.pod_status(pod)
        for st in cstat:
            # removeContainerLog: the log manager's Clean, then the legacy symlink.
            self.container_status(st.id)
            self.container_status(st.id)
            self.runtime("RemoveContainer", self.api.RemoveContainerRequest(container_id=st.id))
        self.runtime("RemovePodSandbox",
                     self.api.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id))
        shutil.rmtree(self.pod_log_dir(pod), ignore_errors=True)
        shutil.rmtree(self.pod_dir(pod), ignore_errors=True)


CRI_LOG_RE = (r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
              r"(stdout|stderr) ([PF](?::[^ ]*)?) (.*)$")


def read_cri_log(path):
    """Parses a CRI log file: a list of (timestamp, stream, tag, content),
    raising ValueError on a line that is not in the CRI format."""
    rx = re.compile(CRI_LOG_RE)
    out = []
    with open(path, "rb") as f:
        data = f.read()
    for raw in data.split(b"\n")[:-1]:
        m = rx.match(raw.decode("utf-8", "replace"))
        if not m:
            raise ValueError(f"{path}: not a CRI log line: {raw[:200]!r}")
        out.append(m.groups())
    return out


def wait_log_line(path, text, deadline_s=60, poll_s=0.02):
    """Polls a CRI log until a full line contains text; returns the lines."""
    end = time.monotonic() + deadline_s
    while True:
        lines = read_cri_log(path) if os.path.exists(path) else []
        if any(text in content for _, _, _, content in lines):
            return lines
        if time.monotonic() > end:
            raise TimeoutError(f"{path}: no line with {text!r} after {deadline_s} s: "
                               f"{lines[-5:]}")
        time.sleep(poll_s)  # polling interval, not a synchronisation


def remove_cgroups(cgroup_root):
    """Removes a test's cgroupfs parent (cgroup_root, e.g. /kvmlet-x-123)
    from every mounted hierarchy, deepest first; what is still in use stays."""
    base = "/sys/fs/cgroup"
    if not os.path.isdir(base):
        return
    for ctrl in os.listdir(base):
        top = os.path.join(base, ctrl, cgroup_root.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass

# SPDX-License-Identifier: Apache-2.0
"""kvmlet-agent for the VM-pod tests and benchmarks: one agent on its own
socket, root and CNI directory, started, killed (-9) and started again on
the same root; and the firmware as a VM pod image in a local registry.

    agent = kvmlet_agent.Agent(binary, workdir, insecure=[reg.host]).start(api)
    ref = kvmlet_agent.push_pod_image(image_tool, firmware, workdir, reg.host)

The firmware image boots with `kvmlet.test=pod`: it prints POD_BANNER on
the console, serves the guest agent on vsock port 1024 with built-in
echo/true/false for guest-exec, and powers off on Ctrl+Alt+Del.

KVMLET_AGENT_ARGS (split on spaces) adds arguments to every agent started
here, for a node whose VMM, jailer or uid range is not the default."""
import os
import subprocess
import time

import registry

START_DEADLINE = 30
POD_BANNER = "kvmlet-testguest: pod ready (vsock agent on port 1024)"
POD_REPO = "kvmlet/podguest"
POD_CMDLINE = "console=ttyS0 kvmlet.test=pod"
NOT_IMPLEMENTED = "VM pods not implemented by this agent"


class Agent:
    def __init__(self, binary, workdir, insecure=(), extra=()):
        self.binary = binary
        self.dir = workdir
        self.sock = os.path.join(workdir, "kvmlet.sock")
        self.root = os.path.join(workdir, "root")
        self.cni = os.path.join(workdir, "cni")
        self.log = os.path.join(workdir, "agent.log")
        self.insecure = list(insecure)
        self.extra = list(extra) + os.environ.get("KVMLET_AGENT_ARGS", "").split()
        self.proc = None
        self.client = None

    def args(self):
        return [self.binary, "--listen", f"unix://{self.sock}", "--root", self.root,
                "--metrics-listen", "", "--cni-conf-dir", self.cni,
                "--insecure-registries", ",".join(self.insecure), *self.extra]

    def start(self, api):
        """Starts the agent and waits until Version answers."""
        import cri_client
        os.makedirs(self.cni, exist_ok=True)
        with open(self.log, "a") as log:
            # Its own session: a kill of the test's process group leaves
            # the VMs' fate to the agent, as on a node.
            self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.client = cri_client.CriClient(self.sock, api)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.sock) and \
                    self.client.code_of(self.client.runtime, "Version", timeout=2)[0].name == "OK":
                return self
            time.sleep(0.05)  # polling interval, not a synchronisation
        self.stop()
        raise RuntimeError(f"kvmlet-agent did not answer Version:\n{self.log_text()}")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def kill9(self):
        """SIGKILL, the way a crash or the OOM killer ends it."""
        if self.client:
            self.client.close()
            self.client = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self):
        """SIGTERM; returns the exit status (None if it was not running)."""
        if self.client:
            self.client.close()
            self.client = None
        code = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return code

    def stop_clean(self):
        """Stops the agent; None if it exited 0 on SIGTERM with no sanitizer
        report in its log, else what went wrong."""
        code = self.stop()
        text = self.log_text(1 << 20)
        if "Sanitizer" in text or "runtime error:" in text:
            i = max(text.find("Sanitizer"), text.find("runtime error:"))
            return f"sanitizer report in the agent's log:\n{text[max(0, i - 200):i + 3000]}"
        if code != 0:
            return f"the agent exited {code} on SIGTERM:\n{self.log_text()}"
        return None

    def log_text(self, tail=4000):
        try:
            with open(self.log) as f:
                return f.read()[-tail:]
        except OSError:
            return ""


def push_pod_image(tool, firmware, workdir, host, tag="v1", extra_cmdline=""):
    """The firmware in pod mode as a VM image at host/POD_REPO:tag; returns
    the ref. extra_cmdline adds kernel arguments (kvmlet.pod_tick_ms=N:
    the guest prints "tick <n>" every N ms)."""
    layout = os.path.join(workdir, "podguest-layout")
    cmdline = f"{POD_CMDLINE} {extra_cmdline}".strip()
    p = subprocess.run([tool, "build", "--kernel", firmware, "--cmdline", cmdline,
                        "--output", layout, "--tag", tag],
                       capture_output=True, text=True, timeout=120)
    if p.returncode:
        raise RuntimeError(f"kvmlet-image build: {p.stderr}")
    ref = f"{host}/{POD_REPO}:{tag}"
    registry.skopeo("copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}",
                    f"docker://{ref}")
    return ref


def pods_missing(client, api):
    """None if the agent runs VM pods, else why not (for SKIPPED). An empty
    RunPodSandbox is INVALID_ARGUMENT from an agent that has pods; one
    without answers UNIMPLEMENTED, or UNAVAILABLE when its VM backend is
    not there ("pods are not available: ...")."""
    code, details = client.code_of(client.runtime, "RunPodSandbox",
                                   api.RunPodSandboxRequest(), timeout=30)
    if code.name == "UNIMPLEMENTED" or (code.name == "UNAVAILABLE" and
                                        "not available" in (details or "")):
        return f"{NOT_IMPLEMENTED} (RunPodSandbox: {code.name} {details})"
    return None


def vmm_pids(cgroup_root):
    """pid -> cmdline of every kvmlet-vmm process in a cgroup beneath
    cgroup_root (a test's cgroupfs parent): the VMs of that test's pods,
    not those other tests run on the same host."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != b"kvmlet-vmm":
            continue
        try:
            with open(f"/proc/{d}/cgroup") as f:
                mine = any(line.split(":", 2)[-1].startswith(cgroup_root + "/") for line in f)
        except OSError:
            continue
        if mine:
            out[int(d)] = b" ".join(argv).decode(errors="replace")
    return out

# SPDX-License-Identifier: Apache-2.0
"""containerd 1.6 (Debian) as a reference CRI server for tests and
benchmarks: its own config file, root, state and socket under a temporary
directory, the CRI plugin on, plain-HTTP registries on 127.0.0.1 reached
through `registry.mirrors` (containerd 1.6's docs/cri/registry.md form; the
hosts.toml `config_path` form needs a directory per host), and the native
snapshotter (works on any filesystem, including overlayfs roots).

    with containerd.Containerd(workdir, insecure=[reg.host]) as ctrd:
        client = cri_client.CriClient(ctrd.sock, api)

start() waits for the CRI Version call to answer (bounded polling, no fixed
sleeps); stop() sends SIGTERM and waits. available() says why containerd
cannot run here (the test then prints SKIPPED and exits 77)."""
import json
import os
import shutil
import subprocess
import time

START_DEADLINE = 30  # seconds for the CRI socket to answer Version
STOP_DEADLINE = 15


def available():
    """None if containerd can be started here, else why not."""
    for tool in ("containerd", "runc"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/install-deps)"
    if os.geteuid() != 0:
        return "containerd needs root"
    return None


def cni_available():
    """None if the CNI plugins bridge_network() uses are installed, else why not."""
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        if not os.path.exists(os.path.join("/usr/lib/cni", plugin)):
            return f"/usr/lib/cni/{plugin} is missing (containernetworking-plugins)"
    return None


def version():
    """containerd's own version string, e.g. '1.6.20~ds1'."""
    out = subprocess.run(["containerd", "--version"], capture_output=True, text=True,
                         timeout=10).stdout.split()
    return out[2] if len(out) >= 3 else "?"


def _toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Containerd:
    """One containerd with everything under workdir/containerd."""

    def __init__(self, workdir, insecure=(), snapshotter="native",
                 sandbox_image="kvmlet.invalid/pause:none"):
        self.dir = os.path.join(workdir, "containerd")
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "containerd.sock")
        self.config = os.path.join(self.dir, "config.toml")
        self.log = os.path.join(self.dir, "containerd.log")
        self.cni_conf = os.path.join(self.dir, "cni")
        self.insecure = list(insecure)
        self.snapshotter = snapshotter
        self.sandbox_image = sandbox_image
        self.bridge = None
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _write_config(self):
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        lines = [
            "version = 2",
            f"root = {_toml_str(self.root)}",
            f"state = {_toml_str(self.state)}",
            "disabled_plugins = []",
            "[grpc]",
            f"  address = {_toml_str(self.sock)}",
            "[ttrpc]",
            f"  address = {_toml_str(self.sock + '.ttrpc')}",
            "[debug]",
            "  level = \"info\"",
            f"[{cri}]",
            "  restrict_oom_score_adj = true",
            "  disable_tcp_service = true",
            f"  sandbox_image = {_toml_str(self.sandbox_image)}",
            f"[{cri}.containerd]",
            f"  snapshotter = {_toml_str(self.snapshotter)}",
            "  default_runtime_name = \"runc\"",
            f"[{cri}.containerd.runtimes.runc]",
            "  runtime_type = \"io.containerd.runc.v2\"",
            f"[{cri}.containerd.runtimes.runc.options]",
            "  SystemdCgroup = false",
            f"[{cri}.cni]",
            "  bin_dir = \"/usr/lib/cni\"",
            f"  conf_dir = {_toml_str(self.cni_conf)}",
            f"[{cri}.registry.mirrors]",
        ]
        for host in self.insecure:
            lines += [f"[{cri}.registry.mirrors.{_toml_str(host)}]",
                      f"  endpoint = [{_toml_str('http://' + host)}]"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _answers(self, client, api):
        try:
            client.call("RuntimeService", "Version", api.VersionRequest(),
                        api.VersionResponse, timeout=2)
            return True
        except client.grpc.RpcError:
            return False

    def start(self, api=None):
        """Starts containerd and waits until its CRI socket answers Version."""
        import cri_client
        if api is None:
            api = cri_client.load_api()
        for d in (self.root, self.state, self.cni_conf):
            os.makedirs(d, exist_ok=True)
        self._write_config()
        log = open(self.log, "a")
        self.proc = subprocess.Popen(["containerd", "--config", self.config],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        client = cri_client.CriClient(self.sock, api)
        try:
            deadline = time.monotonic() + START_DEADLINE
            while time.monotonic() < deadline and self.proc.poll() is None:
                if os.path.exists(self.sock) and self._answers(client, api):
                    return self
                time.sleep(0.05)  # polling interval, not a synchronisation
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"containerd did not answer CRI Version:\n{self.log_text()}")

    def stop(self, keep_bridge=False):
        """Stops containerd (its shims, and so its containers, run on).
        keep_bridge: leave the CNI bridge, so that the pods on it stay
        connected while containerd is down; a later stop() deletes it."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.bridge and not keep_bridge:
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True)
            self.bridge = None

    def bridge_network(self, bridge, subnet):
        """A CNI bridge network (host-local IPAM, its state under this
        containerd's directory) so that pod sandboxes get an IP on eth0,
        which containerd requires. Call before start(); the bridge is
        deleted by stop(). bridge and subnet must be unique on the host."""
        os.makedirs(self.cni_conf, exist_ok=True)
        conf = {"cniVersion": "0.4.0", "name": f"kvmlet-{bridge}",
                "plugins": [{"type": "bridge", "bridge": bridge, "isGateway": True,
                             "ipMasq": False,
                             "ipam": {"type": "host-local", "subnet": subnet,
                                      "dataDir": os.path.join(self.dir, "ipam")}},
                            {"type": "portmap", "capabilities": {"portMappings": True}}]}
        with open(os.path.join(self.cni_conf, "10-kvmlet.conflist"), "w") as f:
            json.dump(conf, f)
        self.bridge = bridge

    def wipe(self):
        """Removes root and state (containerd must be stopped): the next
        start() begins with an empty content store."""
        if self.proc is not None:
            raise RuntimeError("wipe() on a running containerd")
        for d in (self.root, self.state):
            shutil.rmtree(d, ignore_errors=True)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

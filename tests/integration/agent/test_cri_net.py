#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""VM pods on a CNI network, end to end through kvmlet-agent's CRI socket:
Debian's bridge + host-local + portmap with a test-private bridge and
subnet (ipMasq off), the whole test (registry, agent, plugins) inside a
network namespace of its own, so nothing touches the host's network.

Pod A runs the firmware's net test against the bridge's gateway address
and then serves UDP echo; the node reaches it by its pod IP and through a
hostPort (portmap). Pod B runs the net test against pod A's IP: pod to pod
through the bridge. PodSandboxStatus reports the CNI addresses; a
hostNetwork pod is refused; StopPodSandbox/RemovePodSandbox leave no veth,
no TAP, no lease, no cache record.

    test_cri_net.py KVMLET_AGENT KVMLET_IMAGE
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

from harness import FIRMWARE, Failure, check, kvm_usable, main, netns_usable, skip

if os.geteuid() != 0:
    skip("needs root (jailer, cgroups, network namespaces)")
if not kvm_usable():
    skip("no usable /dev/kvm")
if not netns_usable():
    skip("cannot create network namespaces")
if not os.path.exists(FIRMWARE):
    skip(f"no firmware at {FIRMWARE}")
if not os.access("/usr/lib/cni/bridge", os.X_OK) or not shutil.which("iptables"):
    skip("containernetworking-plugins or iptables missing (scripts/install-deps)")

TAG = uuid.uuid4().hex[:8]
NODE_NS = f"kvcrinet-{TAG}"

if os.environ.get("KVMLET_CRI_NET_NS") is None:
    # Run the whole test again inside a namespace of its own, then remove it.
    subprocess.run(["ip", "netns", "add", NODE_NS], check=True)
    try:
        subprocess.run(["ip", "-n", NODE_NS, "link", "set", "lo", "up"], check=True)
        env = dict(os.environ, KVMLET_CRI_NET_NS=NODE_NS)
        # nsenter, not "ip netns exec": only the network namespace changes, /sys
        # (and the cgroup hierarchies the jailer needs) stay as they are.
        rc = subprocess.run(["nsenter", f"--net=/run/netns/{NODE_NS}", sys.executable, *sys.argv],
                            env=env).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", NODE_NS], capture_output=True)
    sys.exit(rc)

import cri_client  # noqa: E402
import registry  # noqa: E402

if registry.available():
    skip(registry.available())
cri_client.ensure_grpc()

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TMP = tempfile.mkdtemp(prefix=f"kvmlet-cri-net-{TAG}-")
CNI_DIR = os.path.join(TMP, "cni")
IPAM = os.path.join(TMP, "ipam")
SOCK = os.path.join(TMP, "cri.sock")
ROOT = os.path.join(TMP, "root")
LOGS = os.path.join(TMP, "pods")
CGPARENT = f"kvmlet-net-{TAG}"
UID_BASE = 760000 + int(TAG[:4], 16) % 200 * 100
BRIDGE = f"kvbr{TAG[:6]}"
SUBNET = "10.222.7"
GATEWAY = f"{SUBNET}.1"
HOST_PORT = 17007
API = cri_client.load_api()
TIMEOUT = 60


def wait_for(what, cond, timeout=TIMEOUT):
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


def write_cni_conf():
    os.makedirs(CNI_DIR, exist_ok=True)
    conf = {"cniVersion": "1.0.0", "name": f"kvnet{TAG}", "plugins": [
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "dataDir": IPAM,
                  "ranges": [[{"subnet": f"{SUBNET}.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]}
    with open(os.path.join(CNI_DIR, "10-kvmlet.conflist"), "w") as f:
        json.dump(conf, f)


class Agent:
    def __init__(self):
        conf = os.path.join(TMP, "agent.conf")
        with open(conf, "w") as f:
            f.write(f"[vm]\nuid_base = {UID_BASE}\nuid_count = 16\n[cni]\n"
                    f"conf_dir = {CNI_DIR}\nbin_dirs = /usr/lib/cni\n")
        self.log = os.path.join(TMP, "agent.log")
        self.p = subprocess.Popen(
            [AGENT, "--config", conf, "--listen", f"unix://{SOCK}", "--root", ROOT,
             "--metrics-listen", "", "--insecure-registries", REG.host],
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
        self.p.wait(timeout=30)


def sandbox_config(name, host_network=False):
    uid = f"{TAG}-0000-4000-8000-{name:0>12}"[:36]
    ns = API.NamespaceOption(network=API.NODE) if host_network else None
    return API.PodSandboxConfig(
        metadata=API.PodSandboxMetadata(name=name, namespace="default", uid=uid),
        hostname=name, log_directory=os.path.join(LOGS, name),
        port_mappings=[API.PortMapping(protocol=API.UDP, container_port=7, host_port=HOST_PORT)]
        if name == "a" else [],
        linux=API.LinuxPodSandboxConfig(
            cgroup_parent=CGPARENT,
            security_context=API.LinuxSandboxSecurityContext(namespace_options=ns)))


def run_vm_pod(name, peer, extra=None):
    cfg = sandbox_config(name)
    sb = AG.c.runtime("RunPodSandbox", API.RunPodSandboxRequest(config=cfg),
                      timeout=TIMEOUT).pod_sandbox_id
    ccfg = API.ContainerConfig(
        metadata=API.ContainerMetadata(name="fw"), image=API.ImageSpec(image=FW_ID),
        log_path="fw.log",
        annotations={"kvmlet.io/kernel-args": f"kvmlet.test=net kvmlet.peer={peer}",
                     **(extra or {})})
    ct = AG.c.runtime("CreateContainer", API.CreateContainerRequest(
        pod_sandbox_id=sb, config=ccfg, sandbox_config=cfg), timeout=TIMEOUT).container_id
    AG.c.runtime("StartContainer", API.StartContainerRequest(container_id=ct), timeout=TIMEOUT)
    return sb, os.path.join(LOGS, name, "fw.log")


def pod_ip(sb):
    st = AG.c.runtime("PodSandboxStatus", API.PodSandboxStatusRequest(pod_sandbox_id=sb))
    return st.status.network.ip, [i.ip for i in st.status.network.additional_ips]


def udp_echo(addr, port, payload, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            s.sendto(payload, (addr, port))
            try:
                data, _ = s.recvfrom(2048)
                if data == payload:
                    return True
            except socket.timeout:
                pass
        return False
    finally:
        s.close()


def dhcpds(sb):
    """The kvmlet-dhcpd processes serving sandbox sb's TAP."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"kvmlet-dhcpd") and any(sb.encode() in a for a in argv):
            out.append((int(pid), [a.decode() for a in argv if a]))
    return out


def links():
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines()]


def test_host_network_refused():
    cfg = sandbox_config("h", host_network=True)
    code, msg = AG.c.code_of(AG.c.runtime, "RunPodSandbox", API.RunPodSandboxRequest(config=cfg))
    check(code == AG.c.grpc.StatusCode.INVALID_ARGUMENT and
          "cannot share the host's network stack" in msg, f"hostNetwork: {code} {msg}")


def test_two_vm_pods():
    sa, log_a = run_vm_pod("a", GATEWAY)
    ip_a, extra = pod_ip(sa)
    check(ip_a.startswith(SUBNET + ".") and not extra, f"pod A's status: {ip_a} {extra}")
    wait_for("pod A's net test", lambda: "net: ready" in read(log_a) or "FAIL" in read(log_a))
    check("net: ready" in read(log_a), f"pod A: {read(log_a)[-2000:]}")
    # The node reaches the VM by its pod IP, and through the hostPort.
    check(udp_echo(ip_a, 7, b"by pod ip"), f"no UDP echo from {ip_a}")
    check(udp_echo(GATEWAY, HOST_PORT, b"by host port"), f"no UDP echo through {HOST_PORT}")
    # The guest's DHCP responder serves its TAP with its pod IP, apart from the agent.
    d = dhcpds(sa)
    check(len(d) == 1 and f"{ip_a}/24" in d[0][1] and "tap0" in d[0][1], f"DHCP responder: {d}")
    # Pod B is a cloud-init guest too: its disk gets the network-config of its pod IP.
    sb_b, log_b = run_vm_pod("b", ip_a, {"kvmlet.io/cloud-init-user-data": "#cloud-config\n"})
    ip_b, _ = pod_ip(sb_b)
    check(ip_b.startswith(SUBNET + ".") and ip_b != ip_a, f"pod B's IP {ip_b}")
    isos = [os.path.join(d, f) for d, _, fs in os.walk(ROOT) for f in fs if f == "cidata.iso"]
    check(len(isos) == 1, f"cidata disks: {isos}")
    with open(isos[0], "rb") as f:
        iso = f.read()
    check(f'addresses:\n      - "{ip_b}/24"'.encode() in iso and
          f'via: "{GATEWAY}"'.encode() in iso, "no network-config with pod B's address")
    wait_for("pod B's net test", lambda: "net: ready" in read(log_b) or "FAIL" in read(log_b))
    check("net: ready" in read(log_b), f"pod B could not reach pod A: {read(log_b)[-2000:]}")
    for sb in (sa, sb_b):
        AG.c.runtime("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=sb),
                     timeout=TIMEOUT)
        wait_for("the DHCP responder to end with its TAP", lambda: not dhcpds(sb), 10)
        AG.c.runtime("RemovePodSandbox", API.RemovePodSandboxRequest(pod_sandbox_id=sb),
                     timeout=TIMEOUT)
    nothing_left()
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    check(str(HOST_PORT) not in nat, "hostPort rule left")


def nothing_left():
    left = [l for l in links() if l.startswith("veth")]
    check(not left, f"veths left: {left}")
    leases = [f for _, _, fs in os.walk(IPAM) for f in fs
              if f != "lock" and not f.startswith("last_reserved")]
    check(not leases, f"leases left: {leases}")
    cache = os.listdir(os.path.join(ROOT, "cni-cache"))
    check(not cache, f"CNI cache left: {cache}")


def test_del_after_agent_restart():
    """A sandbox the agent finds after a SIGKILL and a restart is DELeted from the cache."""
    global AG
    cfg = sandbox_config("r")
    sb = AG.c.runtime("RunPodSandbox", API.RunPodSandboxRequest(config=cfg),
                      timeout=TIMEOUT).pod_sandbox_id
    ip, _ = pod_ip(sb)
    check(ip.startswith(SUBNET + "."), f"pod IP {ip}")
    AG.kill()
    os.unlink(os.path.join(CNI_DIR, "10-kvmlet.conflist"))  # the cache must do
    AG = Agent()
    check(pod_ip(sb)[0] == ip, "the pod IP changed across the restart")
    for m, req in (("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=sb)),
                   ("StopPodSandbox", API.StopPodSandboxRequest(pod_sandbox_id=sb)),
                   ("RemovePodSandbox", API.RemovePodSandboxRequest(pod_sandbox_id=sb))):
        AG.c.runtime(m, req, timeout=TIMEOUT)
    nothing_left()
    write_cni_conf()


def cleanup():
    try:
        AG.stop()
    except Exception:  # noqa: BLE001
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
    layout = os.path.join(TMP, "layout")
    subprocess.run([IMAGE, "build", "--kernel", FIRMWARE, "--output", layout, "--tag", "v1"],
                   check=True, capture_output=True)
    registry.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
                    f"docker://{REG.host}/fw:v1")
    write_cni_conf()
    AG = Agent()
    atexit.register(cleanup)
    FW_ID = AG.c.image("PullImage", API.PullImageRequest(
        image=API.ImageSpec(image=f"{REG.host}/fw:v1")), timeout=TIMEOUT).image_ref
    main([test_host_network_refused, test_two_vm_pods, test_del_after_agent_restart])

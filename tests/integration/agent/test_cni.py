#!/usr/bin/env python3
"""CNI through agent/net (kvmlet-net-tool) with Debian's real plugins
(bridge + host-local + portmap) and with fake plugins that fail, hang,
print garbage or lie. Everything runs in network namespaces the test makes:
a "node" namespace holds the test-private bridge (its plugins run there),
each pod gets its own. After every DEL nothing may be left: no veth, no
lease file, no cache record, no hostPort rule."""

import json
import os
import subprocess
import sys
import tempfile
import time

from harness import check, main, netns_usable, skip

TOOL = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-net-tool"
PLUGINS = "/usr/lib/cni"
TAG = f"{os.getpid() % 100000}"
BRIDGE = f"kvcni{TAG}"[:15]
SUBNET = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"


class Node:
    """A node namespace, a conf dir, an IPAM data dir and a cache dir."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="kvmlet-cni-")
        self.dir = self.tmp.name
        for d in ("conf", "cache", "ipam", "bin"):
            os.makedirs(f"{self.dir}/{d}")
        self.ns = f"kvcni-node-{TAG}"
        self.pods = []
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns, *cmd], capture_output=True,
                              text=True, **kw)

    def pod(self, name):
        ns = f"kvcni-{name}-{TAG}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.pods.append(ns)
        return ns

    def conf(self, plugins, version="1.0.0", name=None):
        for f in os.listdir(f"{self.dir}/conf"):
            os.unlink(f"{self.dir}/conf/{f}")
        c = {"cniVersion": version, "name": name or f"kvcni{TAG}", "plugins": plugins}
        with open(f"{self.dir}/conf/10-test.conflist", "w") as f:
            json.dump(c, f)

    def bridge(self):
        return {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False,
                "ipam": {"type": "host-local", "dataDir": f"{self.dir}/ipam",
                         "ranges": [[{"subnet": f"{SUBNET}.0/24"}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}}

    def fake(self, name, body):
        path = f"{self.dir}/bin/{name}"
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)

    def tool(self, cmd, pod, *extra, sid=None, timeout_ms=None):
        args = [TOOL, cmd, "--conf-dir", f"{self.dir}/conf", "--cache", f"{self.dir}/cache",
                "--bin-dirs", f"{self.dir}/bin:{PLUGINS}", "--id", sid or f"sb{pod}",
                "--netns", f"/run/netns/{pod}", "--pod-name", "web", "--pod-namespace",
                "default", "--pod-uid", "uid-1", *extra]
        if timeout_ms:
            args += ["--timeout-ms", str(timeout_ms)]
        return self.run(*args, timeout=60)

    def links(self, ns):
        out = subprocess.run(["ip", "-n", ns, "-o", "link"], capture_output=True, text=True)
        return [l.split(":")[1].strip().split("@")[0] for l in out.stdout.splitlines()]

    def leases(self):
        out = []
        for root, _, files in os.walk(f"{self.dir}/ipam"):
            out += [f for f in files if f not in ("lock",) and not f.startswith("last_reserved")]
        return out

    def nothing_left(self, pod, sid=None):
        node_links = [l for l in self.links(self.ns) if l not in ("lo", BRIDGE)]
        check(not node_links, f"links left in the node namespace: {node_links}")
        if os.path.exists(f"/run/netns/{pod}"):
            pod_links = [l for l in self.links(pod) if l != "lo"]
            check(not pod_links, f"links left in the pod namespace: {pod_links}")
        check(not self.leases(), f"host-local leases left: {self.leases()}")
        cache = os.listdir(f"{self.dir}/cache")
        check(not cache, f"cache records left: {cache}")

    def close(self):
        for p in self.pods:
            subprocess.run(["ip", "netns", "delete", p], capture_output=True)
        subprocess.run(["ip", "netns", "delete", self.ns], capture_output=True)
        self.tmp.cleanup()


def with_node(fn):
    def wrapped():
        n = Node()
        try:
            fn(n)
        finally:
            n.close()
    wrapped.__name__ = fn.__name__
    return wrapped


@with_node
def test_add_del_real_plugins(n):
    n.conf([n.bridge(), {"type": "portmap", "capabilities": {"portMappings": True}}])
    pod = n.pod("a")
    r = n.tool("add", pod, "--port", "18080:80/tcp")
    check(r.returncode == 0, f"ADD failed: {r.stderr}")
    out = json.loads(r.stdout)
    ip = out["ips"][0]
    check(ip.startswith(SUBNET + "."), f"pod IP {ip} not in {SUBNET}.0/24")
    addr = subprocess.run(["ip", "-n", pod, "-o", "addr", "show", "eth0"], capture_output=True,
                          text=True).stdout
    check(f"{ip}/24" in addr, f"eth0 in the pod lacks {ip}: {addr}")
    check(n.leases(), "no host-local lease after ADD")
    nat = n.run("iptables", "-t", "nat", "-S").stdout
    check("18080" in nat, f"portmap made no hostPort rule: {nat}")
    # The host side reaches the pod's address over the bridge.
    ping = n.run("ping", "-c", "1", "-W", "5", ip)
    check(ping.returncode == 0, f"node cannot ping the pod: {ping.stdout}")
    r = n.tool("del", pod)
    check(r.returncode == 0, f"DEL failed: {r.stderr}")
    n.nothing_left(pod)
    check("18080" not in n.run("iptables", "-t", "nat", "-S").stdout, "hostPort rule left")
    r = n.tool("del", pod)
    check(r.returncode == 0, f"a second DEL failed: {r.stderr}")


@with_node
def test_del_after_restart_uses_cache(n):
    """A new process with the configuration gone still DELs from the cache."""
    n.conf([n.bridge()])
    pod = n.pod("b")
    r = n.tool("add", pod)
    check(r.returncode == 0, f"ADD failed: {r.stderr}")
    cache = os.listdir(f"{n.dir}/cache")
    check(len(cache) == 1, f"cache after ADD: {cache}")
    os.unlink(f"{n.dir}/conf/10-test.conflist")
    r = n.tool("del", pod)
    check(r.returncode == 0, f"DEL from the cache failed: {r.stderr}")
    n.nothing_left(pod)


@with_node
def test_del_with_a_damaged_cache(n):
    """A cache record that cannot be read does not block the DEL: today's configuration does."""
    n.conf([n.bridge()])
    pod = n.pod("k")
    r = n.tool("add", pod)
    check(r.returncode == 0, f"ADD failed: {r.stderr}")
    for f in os.listdir(f"{n.dir}/cache"):
        with open(f"{n.dir}/cache/{f}", "w") as fh:
            fh.write("{garbage")
    r = n.tool("del", pod)
    check(r.returncode == 0, f"DEL with a damaged cache failed: {r.stderr}")
    n.nothing_left(pod)


@with_node
def test_del_with_the_netns_gone(n):
    n.conf([n.bridge()])
    pod = n.pod("c")
    r = n.tool("add", pod)
    check(r.returncode == 0, f"ADD failed: {r.stderr}")
    subprocess.run(["ip", "netns", "delete", pod], check=True)
    r = n.tool("del", pod)
    check(r.returncode == 0, f"DEL without the namespace failed: {r.stderr}")
    # The veth goes with the namespace, which the kernel frees in the background.
    deadline = time.monotonic() + 15
    while [l for l in n.links(n.ns) if l.startswith("veth")] and time.monotonic() < deadline:
        time.sleep(0.1)
    n.nothing_left(pod)


@with_node
def test_failing_plugin(n):
    n.fake("fail", 'cat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
           'echo \'{"cniVersion":"1.0.0","code":7,"msg":"no luck","details":"try later"}\'\n'
           'exit 1\n')
    n.conf([n.bridge(), {"type": "fail"}])
    pod = n.pod("d")
    r = n.tool("add", pod)
    check(r.returncode != 0, "ADD with a failing plugin succeeded")
    check("fail ADD failed (code 7): no luck: try later" in r.stderr, f"error: {r.stderr}")
    n.nothing_left(pod)


@with_node
def test_hanging_plugin(n):
    pidfile = f"{n.dir}/hang.pid"
    n.fake("hang", f'cat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
           f'sleep 1000 & echo $! > {pidfile}\nwait\n')
    n.conf([n.bridge(), {"type": "hang"}])
    pod = n.pod("e")
    t = time.monotonic()
    r = n.tool("add", pod, timeout_ms=1500)
    took = time.monotonic() - t
    check(r.returncode != 0, "ADD with a hanging plugin succeeded")
    check("hang ADD: no answer in 1500 ms" in r.stderr, f"error: {r.stderr}")
    check(took < 20, f"ADD took {took:.1f} s")
    with open(pidfile) as f:
        child = int(f.read())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        with open(f"/proc/{child}/stat") as f:
            if f.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{child}")
    if alive:
        with open(f"/proc/{child}/stat") as f:
            alive = f.read().split()[2] != "Z"
    check(not alive, "the hanging plugin's child survived the timeout")
    n.nothing_left(pod)


@with_node
def test_plugin_closing_stdin(n):
    """A plugin that closes its stdin unread: a clear error, the caller not killed by SIGPIPE."""
    n.fake("deaf", 'exec 0<&-\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
           'echo \'{"cniVersion":"1.0.0","code":3,"msg":"stdin closed"}\'\nexit 1\n')
    n.conf([{"type": "deaf", "padding": "x" * 600000}])
    pod = n.pod("s")
    r = n.tool("add", pod)
    check(r.returncode == 1 and "deaf ADD failed (code 3): stdin closed" in r.stderr,
          f"rc {r.returncode}: {r.stderr}")
    n.nothing_left(pod)


@with_node
def test_garbage_plugin(n):
    n.fake("garbage", 'cat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && exit 0\n'
           'echo "this is {not json"\nhead -c 100000 /dev/zero | tr "\\0" x\n')
    n.conf([n.bridge(), {"type": "garbage"}])
    pod = n.pod("f")
    r = n.tool("add", pod)
    check(r.returncode != 0, "ADD with a garbage plugin succeeded")
    check("garbage ADD" in r.stderr and "not JSON" in r.stderr, f"error: {r.stderr}")
    n.nothing_left(pod)


@with_node
def test_lying_plugins(n):
    dellog = f"{n.dir}/del.log"
    # An address that is no address.
    n.fake("badip", f'cat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && echo del >> {dellog} && exit 0\n'
           'echo \'{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01",'
           '"sandbox":"\'$CNI_NETNS\'"}],"ips":[{"address":"999.1.2.3/24","interface":0}]}\'\n')
    # A valid result for an interface that is not in the namespace.
    n.fake("noif", f'cat >/dev/null\n[ "$CNI_COMMAND" = DEL ] && echo del >> {dellog} && exit 0\n'
           'echo \'{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01",'
           '"sandbox":"\'$CNI_NETNS\'"}],"ips":[{"address":"10.9.9.9/24","interface":0}]}\'\n')
    for plugin, want in (("badip", "not an IP address"), ("noif", "no interface 'eth0'")):
        n.conf([{"type": plugin}])
        pod = n.pod(plugin)
        r = n.tool("add", pod)
        check(r.returncode != 0, f"ADD with {plugin} succeeded")
        check(want in r.stderr, f"{plugin}: error: {r.stderr}")
        n.nothing_left(pod)
    with open(dellog) as f:
        check(f.read().count("del") == 2, "the lying ADDs were not undone with a DEL")


@with_node
def test_runtime_config_and_env(n):
    log = f"{n.dir}/seen"
    n.fake("record", f'cat > {log}.$CNI_COMMAND.stdin\nenv > {log}.$CNI_COMMAND.env\n'
           '[ "$CNI_COMMAND" = DEL ] && exit 0\n'
           'echo \'{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01",'
           '"sandbox":"/nowhere"}],"ips":[{"version":"4","address":"10.9.9.9/24"}]}\'\n')
    n.conf([{"type": "record", "capabilities": {"portMappings": True, "bandwidth": True},
             "name": "ignored"}], version="0.4.0")
    pod = n.pod("g")
    r = n.tool("add", pod, "--port", "8080:80/tcp", "--ingress", "10M", "--egress", "1Gi")
    check(r.returncode != 0 and "no interface eth0 in sandbox" in r.stderr,
          f"a result for another sandbox was taken: {r.stderr}")
    with open(f"{log}.ADD.stdin") as f:
        conf = json.load(f)
    check(conf["cniVersion"] == "0.4.0" and conf["name"] == f"kvcni{TAG}", f"stdin: {conf}")
    rc = conf.get("runtimeConfig", {})
    check(rc.get("portMappings") == [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp",
                                      "hostIP": ""}], f"portMappings: {rc}")
    check(rc.get("bandwidth", {}).get("ingressRate") == 10_000_000 and
          rc["bandwidth"].get("egressRate") == 1 << 30, f"bandwidth: {rc}")
    with open(f"{log}.ADD.env") as f:
        env = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
    want = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"sb{pod}", "CNI_IFNAME": "eth0",
            "CNI_NETNS": f"/run/netns/{pod}",
            "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;"
                        f"K8S_POD_INFRA_CONTAINER_ID=sb{pod};K8S_POD_UID=uid-1"}
    for k, v in want.items():
        check(env.get(k) == v, f"{k}={env.get(k)!r}, want {v!r}")
    check("CNI_PATH" in env and PLUGINS in env["CNI_PATH"], f"CNI_PATH: {env.get('CNI_PATH')}")
    # The undo of the failed ADD was a DEL with the same config.
    check(os.path.exists(f"{log}.DEL.stdin"), "no DEL after the refused result")


@with_node
def test_bad_configurations(n):
    pod = n.pod("h")
    r = n.tool("add", pod)
    check(r.returncode != 0 and "no CNI configuration" in r.stderr, f"empty dir: {r.stderr}")
    r = n.tool("del", pod)
    check(r.returncode == 0, f"DEL with no configuration and no cache: {r.stderr}")
    for plugins, want in (([{"type": "../../bin/sh"}], "plugin file name"),
                          ([], "1 to 16 plugins"),
                          ([{"type": "nosuchplugin"}], "not found"),
                          ([{"type": "bridge", "capabilities": {"portMappings": "yes"}}],
                           "not a boolean")):
        n.conf(plugins)
        r = n.tool("add", pod)
        check(r.returncode != 0 and want in r.stderr, f"{plugins}: {r.stderr}")
    n.conf([n.bridge()], version="9.9.9")
    r = n.tool("add", pod)
    check(r.returncode != 0 and "cniVersion" in r.stderr, f"bad version: {r.stderr}")
    r = n.tool("add", pod, sid="-bad;id")
    check(r.returncode != 0 and "not a container id" in r.stderr, f"bad id: {r.stderr}")
    n.nothing_left(pod)


if __name__ == "__main__":
    if os.geteuid() != 0 or not netns_usable():
        skip("needs root and network namespaces")
    if not os.access(f"{PLUGINS}/bridge", os.X_OK) or not os.access(f"{PLUGINS}/portmap", os.X_OK):
        skip("containernetworking-plugins is not installed (scripts/install-deps)")
    main([test_add_del_real_plugins, test_del_after_restart_uses_cache, test_del_with_a_damaged_cache,
          test_del_with_the_netns_gone,
          test_failing_plugin, test_hanging_plugin, test_plugin_closing_stdin, test_garbage_plugin, test_lying_plugins,
          test_runtime_config_and_env, test_bad_configurations])

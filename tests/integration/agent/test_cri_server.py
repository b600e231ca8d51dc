#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kvmlet-agent's CRI server over real gRPC (python3-grpcio, stubs generated
from proto/ at test time): Version and Status field by field,
UpdateRuntimeConfig, UNIMPLEMENTED for the alpha, pod and unknown methods,
a 17 MiB request refused while the server keeps serving, undecodable bytes,
50 concurrent calls, the socket's mode, GET /metrics, the config file, and
SIGTERM.

Usage: test_cri_server.py PATH-TO-kvmlet-agent"""
import atexit
import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading

from harness import check, main, unix_http_get
import cri_client

cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
TMP = tempfile.mkdtemp(prefix="kvmlet-cri-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
SOCK = os.path.join(TMP, "run", "kvmlet.sock")
METRICS = os.path.join(TMP, "run", "metrics.sock")
ROOT = os.path.join(TMP, "root")
CNI = os.path.join(TMP, "cni")
API = cri_client.load_api()
SC = grpc.StatusCode

ALPHA = ["CheckpointContainer", "GetContainerEvents", "ListMetricDescriptors",
         "ListPodSandboxMetrics", "RuntimeConfig", "UpdateContainerResources"]
PODS = ["RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
        "ListPodSandbox", "CreateContainer", "StartContainer", "StopContainer",
        "RemoveContainer", "ListContainers", "ContainerStatus", "ReopenContainerLog",
        "ExecSync", "ContainerStats", "ListContainerStats",
        "PodSandboxStats", "ListPodSandboxStats"]
STREAMING = ["Exec", "Attach", "PortForward"]
LOGFMT = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z level=\w+ msg=')


class Agent:
    """One kvmlet-agent with its stderr collected line by line."""

    def __init__(self, *args):
        self.p = subprocess.Popen([AGENT, *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  errors="replace")
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF
            self.cond.notify_all()

    def wait_line(self, text, timeout=20):
        with self.cond:
            ok = self.cond.wait_for(
                lambda: any(line is None or text in line for line in self.lines), timeout)
            found = [line for line in self.lines if line and text in line]
        check(ok and found, f"no log line with {text!r}: {self.lines!r}")
        return found[0]

    def log(self):
        with self.cond:
            return [line for line in self.lines if line is not None]


def agent_args(extra=()):
    return ["--listen", f"unix://{SOCK}", "--root", ROOT, "--metrics-listen", METRICS,
            "--cni-conf-dir", CNI, *extra]


os.makedirs(CNI)
AG = Agent(*agent_args())
AG.wait_line("kvmlet-agent started")
C = cri_client.CriClient(SOCK, API)


def metrics_text():
    head, _, body = unix_http_get(METRICS, "/metrics").partition("\r\n\r\n")
    check(head.startswith("HTTP/1.1 200"), f"metrics: {head!r}")
    return body


def test_socket_mode():
    st = os.stat(SOCK)
    check(stat.S_ISSOCK(st.st_mode), "not a socket")
    check(stat.S_IMODE(st.st_mode) == 0o660, f"socket mode {oct(st.st_mode)}")
    check(st.st_uid == os.geteuid(), f"socket owner {st.st_uid}")
    d = os.stat(os.path.dirname(SOCK))
    check(stat.S_IMODE(d.st_mode) == 0o750, f"socket directory mode {oct(d.st_mode)}")
    check(os.path.isdir(ROOT), "root not created")


def test_version():
    v = C.runtime("Version", API.VersionRequest(version="v1"))
    check(v.version == "0.1.0", f"version {v.version!r}")
    check(v.runtime_name == "kvmlet", f"runtime_name {v.runtime_name!r}")
    with open(os.path.join(cri_client.SOURCE_DIR, "include", "kvmlet", "version.h")) as f:
        want = re.search(r'#define KVMLET_VERSION "([^"]+)"', f.read()).group(1)
    check(v.runtime_version == want, f"runtime_version {v.runtime_version!r}, want {want!r}")
    check(v.runtime_api_version == "v1", f"api {v.runtime_api_version!r}")


def conditions(resp):
    return {c.type: c for c in resp.status.conditions}


def test_status():
    r = C.runtime("Status")
    conds = conditions(r)
    check(set(conds) == {"RuntimeReady", "NetworkReady"}, f"conditions {list(conds)}")
    check(conds["RuntimeReady"].status, "runtime not ready")
    net = conds["NetworkReady"]
    check(not net.status and net.reason == "NetworkPluginNotReady"
          and "cni config uninitialized" in net.message, f"NetworkReady without CNI: {net}")
    check(len(r.info) == 0, "info without verbose")

    r = C.runtime("Status", API.StatusRequest(verbose=True))
    cfg = json.loads(r.info["config"])
    check(cfg["listen"] == f"unix://{SOCK}" and cfg["root"] == ROOT
          and cfg["cniConfDir"] == CNI, f"config dump {cfg}")
    check("no network config found in " + CNI in r.info["lastCNILoadStatus"], f"{r.info}")

    with open(os.path.join(CNI, "10-bridge.conflist"), "w") as f:
        f.write('{"cniVersion": "1.0.0", "name": "k8s", "plugins": []}')
    try:
        r = C.runtime("Status", API.StatusRequest(verbose=True))
        net = conditions(r)["NetworkReady"]
        check(net.status and not net.reason and not net.message, f"NetworkReady: {net}")
        check(r.info["lastCNILoadStatus"] == "OK", f"{r.info}")
    finally:
        os.unlink(os.path.join(CNI, "10-bridge.conflist"))


def test_update_runtime_config():
    req = API.UpdateRuntimeConfigRequest(runtime_config=API.RuntimeConfig(
        network_config=API.NetworkConfig(pod_cidr="10.244.1.0/24")))
    C.runtime("UpdateRuntimeConfig", req)
    C.runtime("UpdateRuntimeConfig")  # an empty update keeps the CIDR, as containerd's
    cfg = json.loads(C.runtime("Status", API.StatusRequest(verbose=True)).info["config"])
    check(cfg["podCIDR"] == "10.244.1.0/24", f"podCIDR {cfg.get('podCIDR')!r}")
    AG.wait_line("pod CIDR updated")


def test_unimplemented():
    for m in ALPHA:
        if m == "GetContainerEvents":  # server-streaming upstream; answered as one
            code, _ = C.code_of(C.raw, "/runtime.v1.RuntimeService/GetContainerEvents", b"")
        else:
            code, _ = C.code_of(C.runtime, m)
        check(code == SC.UNIMPLEMENTED, f"{m}: {code}")
    for m in STREAMING:
        code, msg = C.code_of(C.runtime, m)
        check(code == SC.UNIMPLEMENTED and "issue 14" in msg, f"{m}: {code} {msg!r}")
    for m in PODS:  # empty requests: lists answer, the rest name the missing field
        code, msg = C.code_of(C.runtime, m)
        want = SC.OK if m.startswith("List") else SC.INVALID_ARGUMENT
        check(code == want, f"{m}: {code} {msg!r}")
    # ImageService is served (test_cri_images.py): here only its empty answers.
    check(len(C.image("ListImages").images) == 0, "images in a new store")
    check(len(C.image("ImageFsInfo").image_filesystems) == 1, "no image filesystem")
    for m in ["ImageStatus", "PullImage", "RemoveImage"]:
        code, _ = C.code_of(C.image, m)
        check(code == SC.INVALID_ARGUMENT, f"{m} without an image: {code}")
    for path in ["/runtime.v1.RuntimeService/NoSuchMethod", "/runtime.v1alpha2.RuntimeService/Version",
                 "/grpc.health.v1.Health/Check"]:
        code, _ = C.code_of(C.raw, path, b"")
        check(code == SC.UNIMPLEMENTED, f"{path}: {code}")


def test_garbage():
    for payload in [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x08"]:
        code, msg = C.code_of(C.raw, "/runtime.v1.RuntimeService/Status", payload)
        check(code == SC.INVALID_ARGUMENT, f"{payload!r}: {code} {msg!r}")
    check(C.runtime("Version").runtime_name == "kvmlet", "no answer after garbage")


def test_oversized():
    big = API.VersionRequest(version="x" * (17 * 1024 * 1024))
    code, msg = C.code_of(C.runtime, "Version", big)
    check(code == SC.RESOURCE_EXHAUSTED, f"17 MiB: {code} {msg!r}")
    check(C.runtime("Version").runtime_api_version == "v1", "no answer after 17 MiB")
    # Just under the limit is still a request.
    ok = API.VersionRequest(version="x" * (16 * 1024 * 1024 - 16))
    check(C.runtime("Version", ok).runtime_name == "kvmlet", "16 MiB - 16 refused")


def test_concurrent():
    clients = [cri_client.CriClient(SOCK, API) for _ in range(5)]

    def one(i):
        c = clients[i % len(clients)]
        if i % 2:
            return c.runtime("Version").runtime_api_version == "v1"
        return conditions(c.runtime("Status"))["RuntimeReady"].status

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        results = list(ex.map(one, range(50)))
    for c in clients:
        c.close()
    check(all(results) and len(results) == 50, f"concurrent results {results}")


def metric(text, name, labels):
    m = re.search("^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics():
    before = metric(metrics_text(), "kvmlet_agent_cri_requests_total",
                    '{method="Version",code="OK"}') or 0
    for _ in range(3):
        C.runtime("Version")
    text = metrics_text()
    after = metric(text, "kvmlet_agent_cri_requests_total", '{method="Version",code="OK"}')
    check(after == before + 3, f"Version calls {before} -> {after}")
    check(metric(text, "kvmlet_agent_cri_requests_total",
                 '{method="Exec",code="Unimplemented"}') >= 1, "streaming not counted")
    check(metric(text, "kvmlet_agent_cri_requests_total",
                 '{method="unknown",code="Unimplemented"}') >= 1, "unknown not counted")
    check(metric(text, "kvmlet_agent_cri_request_seconds_total", '{method="Version"}') > 0,
          "no latency")
    check(metric(text, "kvmlet_agent_cri_in_flight", "") is not None, "no in-flight gauge")


def test_logs():
    line = AG.wait_line('msg="CRI call" method=Version code=OK')
    check(re.search(r" ms=\d+\.\d{3}$", line), f"no duration: {line!r}")
    AG.wait_line("method=Exec code=Unimplemented")
    for line in AG.log():
        check(LOGFMT.match(line), f"not a logfmt line: {line!r}")


def test_config_file():
    conf = os.path.join(TMP, "agent.conf")
    sock2 = os.path.join(TMP, "run2", "cri.sock")
    with open(conf, "w") as f:
        f.write(f"# kvmlet-agent\n[agent]\nlisten = unix://{sock2}\nroot = {ROOT}-conf\n"
                f"metrics_listen = \"\"\nlog_level = debug\n\n[cri]\nworkers = 2\n"
                f"[cni]\nconf_dir = {CNI}\n")
    a = Agent("--config", conf)
    try:
        a.wait_line("kvmlet-agent started")
        c = cri_client.CriClient(sock2, API)
        cfg = json.loads(c.runtime("Status", API.StatusRequest(verbose=True)).info["config"])
        c.close()
        check(cfg["workers"] == 2 and cfg["logLevel"] == "debug" and cfg["metricsListen"] == "",
              f"config from file: {cfg}")
    finally:
        a.p.send_signal(signal.SIGTERM)
        check(a.p.wait(timeout=30) == 0, "second agent did not exit 0")
    check(not os.path.exists(sock2), "socket left behind")

    with open(conf, "w") as f:
        f.write("[agent]\nroot = /x\n[cri]\nworkers = 0\n")
    p = subprocess.run([AGENT, "--config", conf], capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and f"{conf}:4: cri.workers" in p.stderr, f"bad config: {p.stderr!r}")
    p = subprocess.run([AGENT, "--config", os.path.join(TMP, "missing.conf")],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "missing.conf" in p.stderr, f"missing config: {p.stderr!r}")


def test_help():
    p = subprocess.run([AGENT, "--help"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"--help: {p.returncode}")
    for opt in ["--config", "--listen", "--root", "--metrics-listen", "--log-level",
                "--cni-conf-dir", "--workers", "--version", "--help"]:
        check(opt in p.stdout, f"{opt} not in --help")
    p = subprocess.run([AGENT, "--bogus"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, f"--bogus: {p.returncode}")


def test_socket_in_use():
    # Its own root: the image store's lock would stop it before the socket does.
    p = subprocess.run([AGENT, *agent_args(["--root", ROOT + "-2"])], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 1 and "another server is listening" in p.stderr,
          f"second agent on the same socket: {p.returncode} {p.stderr!r}")
    check(C.runtime("Version").runtime_name == "kvmlet", "first agent hurt")


def test_stale_socket():
    """A socket file nobody answers on (a crash) is replaced."""
    sock = os.path.join(TMP, "run4", "cri.sock")
    os.makedirs(os.path.dirname(sock))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock)
    stale.close()
    a = Agent("--listen", sock, "--root", ROOT + "-stale", "--metrics-listen", "",
              "--cni-conf-dir", CNI)
    try:
        a.wait_line("kvmlet-agent started")
        c = cri_client.CriClient(sock, API)
        check(c.runtime("Version").runtime_name == "kvmlet", "no answer on a replaced socket")
        c.close()
        check(stat.S_IMODE(os.stat(sock).st_mode) == 0o660, "replaced socket's mode")
    finally:
        a.p.send_signal(signal.SIGTERM)
        check(a.p.wait(timeout=30) == 0, "agent did not exit 0")


def test_sigterm_under_load():
    """SIGTERM while calls run: each ends OK or UNAVAILABLE, none hangs, exit 0."""
    sock = os.path.join(TMP, "run3", "cri.sock")
    a = Agent("--listen", sock, "--root", ROOT + "-load", "--metrics-listen", "",
              "--cni-conf-dir", CNI,
              "--workers", "1")
    a.wait_line("kvmlet-agent started")
    c = cri_client.CriClient(sock, API)
    check(c.runtime("Version").runtime_name == "kvmlet", "no answer")
    started = threading.Event()

    def one(i):
        started.set()
        return C.code_of(c.runtime, "Status", API.StatusRequest(verbose=True))[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
        futures = [ex.submit(one, i) for i in range(200)]
        started.wait(10)
        a.p.send_signal(signal.SIGTERM)
        codes = [f.result(timeout=60) for f in futures]
    c.close()
    check(a.p.wait(timeout=30) == 0, "agent did not exit 0 under load")
    bad = [x for x in codes if x not in (SC.OK, SC.UNAVAILABLE, SC.CANCELLED)]
    check(not bad, f"calls ended with {set(bad)}")
    print(f"     under load: {sorted((str(x), codes.count(x)) for x in set(codes))}")
    check(not os.path.exists(sock), "socket left behind")


def test_sigterm():
    C.close()
    AG.p.send_signal(signal.SIGTERM)
    code = AG.p.wait(timeout=30)
    check(code == 0, f"exit code {code}")
    AG.wait_line("kvmlet-agent stopped")
    check(not os.path.exists(SOCK), "CRI socket left behind")
    check(not os.path.exists(METRICS), "metrics socket left behind")


if __name__ == "__main__":
    main([test_socket_mode, test_version, test_status, test_update_runtime_config,
          test_unimplemented, test_garbage, test_oversized, test_concurrent, test_metrics,
          test_logs, test_config_file, test_help, test_socket_in_use, test_stale_socket,
          test_sigterm_under_load, test_sigterm])

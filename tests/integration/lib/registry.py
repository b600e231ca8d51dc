# SPDX-License-Identifier: Apache-2.0
"""A real OCI registry for tests: Debian's docker-registry (distribution 2.8)
on 127.0.0.1 with a free port and a temporary storage root, optionally with
htpasswd auth, plus skopeo to push and inspect images.

    with registry.Registry(workdir) as reg:
        registry.skopeo("copy", "--dest-tls-verify=false",
                        f"oci:{layout}:v1", f"docker://{reg.host}/name:v1")

start() waits for GET /v2/ to answer (polling, with a deadline); stop()
ends the process. Registry.kill() stops it abruptly (a registry that dies
mid-pull).
"""
import base64
import os
import shutil
import socket
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request

START_DEADLINE = 30  # seconds for the registry to answer /v2/


def available():
    """None if docker-registry and skopeo are installed, else what is missing."""
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/install-deps)"
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_htpasswd(path, user, password):
    """An htpasswd file (bcrypt, which the registry requires)."""
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                         capture_output=True, text=True).stdout
    with open(path, "w") as f:
        f.write(out)


class Registry:
    def __init__(self, workdir, htpasswd=None):
        self.workdir = workdir
        self.htpasswd = htpasswd
        self.root = os.path.join(workdir, "registry-storage")
        self.config = os.path.join(workdir, "registry.yml")
        self.log = os.path.join(workdir, "registry.log")
        self.port = None
        self.proc = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    def _write_config(self):
        auth = ""
        if self.htpasswd:
            auth = ("auth:\n  htpasswd:\n    realm: kvmlet-test\n"
                    f"    path: {self.htpasswd}\n")
        with open(self.config, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: info\n"
                    "storage:\n"
                    f"  filesystem:\n    rootdirectory: {self.root}\n"
                    "  delete:\n    enabled: true\n"
                    f"http:\n  addr: 127.0.0.1:{self.port}\n"
                    + auth)

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url + "/v2/", timeout=2) as r:
                return r.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401 and self.htpasswd is not None
        except OSError:
            return False

    def start(self):
        """Starts the registry and waits until /v2/ answers. Keeps its storage
        across a stop() and start(), on a new port unless the old one is free."""
        os.makedirs(self.root, exist_ok=True)
        for _ in range(3):  # another test may take the free port first
            if self.port is None:
                self.port = free_port()
            self._write_config()
            log = open(self.log, "a")
            self.proc = subprocess.Popen(["docker-registry", "serve", self.config],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
            log.close()
            deadline = time.monotonic() + START_DEADLINE
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._answers():
                    return self
                time.sleep(0.05)  # polling interval, not a synchronisation
            self.stop()
            self.port = None
        raise RuntimeError(f"docker-registry did not start:\n{self.log_text()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def get(self, path, user=None, password=None, accept=None):
        """GET on the registry: (status, headers, body)."""
        req = urllib.request.Request(self.url + path)
        if user is not None:
            cred = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", "Basic " + cred)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class CuttingProxy:
    """Forwards to a Registry, one request per connection. The first GET for
    which cut(path, content_length) is true is cut after half its body, and
    the registry is killed then: a registry that dies mid-blob."""

    def __init__(self, reg, cut):
        self.reg, self.should_cut = reg, cut
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.host = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.cut = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    @staticmethod
    def _read_head(s, data=b""):
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        return data

    def _one(self, c):
        with c:
            req = self._read_head(c)
            if req is None:
                return
            first, *lines = req.split(b"\r\n\r\n")[0].decode().split("\r\n")
            lines = [x for x in lines if not x.lower().startswith(("connection:", "host:"))]
            out = "\r\n".join([first, f"Host: {self.reg.host}", "Connection: close", *lines])
            try:
                up = socket.create_connection(("127.0.0.1", self.reg.port))
            except OSError:
                return
            with up:
                up.sendall(out.encode() + b"\r\n\r\n")
                resp = self._read_head(up) or b""
                hdr, _, body = resp.partition(b"\r\n\r\n")
                m = re.search(rb"(?im)^content-length:\s*(\d+)", hdr)
                length = int(m.group(1)) if m else 0
                path = first.split(" ")[1] if " " in first else ""
                if not self.cut.is_set() and self.should_cut(path, length):
                    while len(body) < length // 2:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        body += chunk
                    c.sendall(hdr + b"\r\n\r\n" + body[:length // 2])
                    self.reg.kill()
                    self.cut.set()
                    return
                c.sendall(resp)
                while chunk := up.recv(65536):
                    c.sendall(chunk)

    def close(self):
        self.sock.close()


def skopeo(*args, timeout=120):
    """Runs skopeo; returns its stdout, raising with its stderr on failure."""
    p = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"skopeo {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout

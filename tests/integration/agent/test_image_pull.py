#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The image store and puller against Debian's real docker-registry on
127.0.0.1, with images pushed by skopeo from OCI layouts this test writes:
pull by tag, by digest and from an index, with htpasswd auth, concurrent
pulls of one image, status/list/remove checked against the store on disk,
and a registry killed mid-pull leaving no partial blob.

Usage: test_image_pull.py PATH-TO-kvmlet-image-tool"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import check, main, skip
import registry
from registry import CuttingProxy

TOOL = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-image-tool"
TMP = tempfile.mkdtemp(prefix="kvmlet-pull-")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Registry(registry.Registry):
    """lib/registry.py's docker-registry in a folder of this test's, its port
    chosen up front so that references can be written before it starts."""

    def __init__(self, name, htpasswd=None):
        workdir = os.path.join(TMP, name)
        os.makedirs(workdir, exist_ok=True)
        super().__init__(workdir, htpasswd)
        self.port = registry.free_port()


def tar_gz(files):
    """A gzip'd tar of {path: bytes}; returns (compressed, uncompressed)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.uid = info.gid = 107
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), plain


class Layout:
    """An OCI image layout, written by hand as docs/images.md describes."""

    def __init__(self, name):
        self.dir = os.path.join(TMP, name)
        os.makedirs(os.path.join(self.dir, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(self.dir, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    def blob(self, data):
        d = sha256(data)
        with open(os.path.join(self.dir, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d

    def image(self, layers, arch="amd64", user="107:107", labels=None, plain=False):
        """layers: list of {path: bytes}. Returns (manifest bytes, config digest)."""
        descs, diff_ids = [], []
        for files in layers:
            gz, raw = tar_gz(files)
            data = raw if plain else gz
            mt = "application/vnd.oci.image.layer.v1.tar" + ("" if plain else "+gzip")
            descs.append({"mediaType": mt, "digest": self.blob(data), "size": len(data)})
            diff_ids.append(sha256(raw))
        config = json.dumps({
            "architecture": arch, "os": "linux",
            "config": {"User": user, "Labels": labels or {"io.kvmlet.test": "yes"}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }).encode()
        cdesc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                 "digest": self.blob(config), "size": len(config)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": cdesc, "layers": descs}).encode()
        return manifest, cdesc["digest"]

    def tag(self, name, data, media_type, platform=None):
        desc = {"mediaType": media_type, "digest": self.blob(data), "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": name}}
        if platform:
            desc["platform"] = platform
        self.index["manifests"].append(desc)
        with open(os.path.join(self.dir, "index.json"), "w") as f:
            json.dump(self.index, f)
        return desc["digest"]


def skopeo_push(layout, tag, dest, creds=None, all_images=False):
    cmd = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
    if all_images:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout.dir}:{tag}", f"docker://{dest}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"skopeo copy {tag}: {p.stderr}")


def tool(root, *args, creds=None, insecure=None, options=(), timeout=120):
    cmd = [TOOL, root, *options]
    for h in insecure or []:
        cmd += ["--insecure", h]
    if creds:
        cmd += ["--user", creds[0], "--password", creds[1]]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def blobs_on_disk(root):
    d = os.path.join(root, "blobs", "sha256")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def images_on_disk(root):
    d = os.path.join(root, "images")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def check_blobs_verified(root):
    for name in blobs_on_disk(root):
        check(not name.startswith("."), f"temporary blob left: {name}")
        with open(os.path.join(root, "blobs", "sha256", name), "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == name, f"blob {name} is corrupt")


REG = None
LAYOUT = None
IMG = {}


def setup():
    global REG, LAYOUT
    for prog in ("docker-registry", "skopeo"):
        if not shutil.which(prog):
            skip(f"{prog} is not installed")
    REG = Registry("plain")
    REG.start()
    LAYOUT = Layout("layout")
    m, cfg = LAYOUT.image([{"disk/disk.img": b"\0" * 65536 + b"kvmlet"},
                           {"boot/vmlinux": b"ELF" * 1000}])
    IMG["v1"] = (LAYOUT.tag("v1", m, OCI_MANIFEST), cfg)
    # Two platforms in one index; the pull must take amd64.
    m_amd, cfg_amd = LAYOUT.image([{"disk/disk.img": b"amd64 disk"}], user="qemu")
    m_arm, cfg_arm = LAYOUT.image([{"disk/disk.img": b"arm64 disk"}], arch="arm64")
    idx = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": sha256(m_arm), "size": len(m_arm),
         "platform": {"os": "linux", "architecture": "arm64"}},
        {"mediaType": OCI_MANIFEST, "digest": sha256(m_amd), "size": len(m_amd),
         "platform": {"os": "linux", "architecture": "amd64"}},
    ]}).encode()
    LAYOUT.blob(m_amd)
    LAYOUT.blob(m_arm)
    IMG["multi"] = (LAYOUT.tag("multi", idx, OCI_INDEX), cfg_amd, cfg_arm)
    skopeo_push(LAYOUT, "v1", f"{REG.host}/kvmlet/testdisk:v1")
    skopeo_push(LAYOUT, "multi", f"{REG.host}/kvmlet/multi:v1", all_images=True)


def new_root(name):
    return os.path.join(TMP, "store-" + name)


def test_pull_by_tag_status_rm():
    root = new_root("tag")
    ref = f"{REG.host}/kvmlet/testdisk:v1"
    code, out, err = tool(root, "pull", ref, insecure=[REG.host])
    check(code == 0, f"pull: {err}")
    manifest_digest, cfg = IMG["v1"]
    check(out == [cfg], f"id {out} is not the config digest {cfg}")
    code, st, err = tool(root, "status", ref)
    check(code == 0, f"status: {err}")
    check(st["repo_tags"] == [ref], f"repo_tags {st['repo_tags']}")
    check(st["repo_digests"] == [f"{REG.host}/kvmlet/testdisk@{manifest_digest}"],
          f"repo_digests {st['repo_digests']}")
    check(st.get("uid") == 107 and "username" not in st, f"user: {st}")
    # manifest, config, two layers: all verified on disk, nothing else.
    check(len(blobs_on_disk(root)) == 4, f"blobs: {blobs_on_disk(root)}")
    check_blobs_verified(root)
    check(images_on_disk(root) == [cfg[7:]], f"images: {images_on_disk(root)}")
    # The layers unpacked in order, and the parts recorded: /boot/vmlinux is
    # not a kernel path (docs/images.md), /disk/disk.img is the one disk.
    img = os.path.join(root, "images", cfg[7:])
    with open(os.path.join(img, "meta.json")) as f:
        meta = json.load(f)
    check(meta.get("rootfs") == "rootfs" and meta["disks"] == ["rootfs/disk/disk.img"]
          and "kernel" not in meta, f"meta.json {meta}")
    with open(os.path.join(img, "rootfs", "disk", "disk.img"), "rb") as f:
        check(f.read() == b"\0" * 65536 + b"kvmlet", "disk.img unpacked wrong")
    with open(os.path.join(img, "rootfs", "boot", "vmlinux"), "rb") as f:
        check(f.read() == b"ELF" * 1000, "vmlinux unpacked wrong")
    for q in (cfg, cfg[7:19], f"{REG.host}/kvmlet/testdisk@{manifest_digest}"):
        code, st, err = tool(root, "status", q)
        check(code == 0 and st["id"] == cfg, f"status {q}: {err}")
    code, _, err = tool(root, "rm", ref)
    check(code == 0, f"rm: {err}")
    code, _, _ = tool(root, "status", cfg)
    check(code == 2, "the image is still there")
    check(images_on_disk(root) == [] and blobs_on_disk(root) == [],
          f"left on disk: {images_on_disk(root)} {blobs_on_disk(root)}")


def test_pull_qcow2():
    """A qcow2 disk (made with qemu-img) becomes raw once, at pull time."""
    check(shutil.which("qemu-img"), "qemu-img is not installed (qemu-utils, scripts/install-deps)")
    src, qcow = os.path.join(TMP, "q.raw"), os.path.join(TMP, "q.qcow2")
    with open(src, "wb") as f:
        f.truncate(2 << 20)
        f.seek(1 << 20)
        f.write(b"inside the qcow2")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", src, qcow], check=True)
    with open(qcow, "rb") as f:
        data = f.read()
    check(data[:4] == b"QFI\xfb", "qemu-img made no qcow2")
    layout = Layout("qcow2")
    m, cfg = layout.image([{"boot/vmlinuz": b"ELF", "boot/cmdline": b"console=ttyS0\n"},
                           {"disk/root.qcow2": data}])
    layout.tag("v1", m, OCI_MANIFEST)
    skopeo_push(layout, "v1", f"{REG.host}/kvmlet/qcow2:v1")
    root = new_root("qcow2")
    code, out, err = tool(root, "pull", f"{REG.host}/kvmlet/qcow2:v1", insecure=[REG.host])
    check(code == 0 and out == [cfg], f"pull: {err}")
    img = os.path.join(root, "images", cfg[7:])
    with open(os.path.join(img, "meta.json")) as f:
        meta = json.load(f)
    check(meta["kernel"] == "rootfs/boot/vmlinuz" and meta["cmdline"] == "console=ttyS0"
          and meta["disks"] == ["rootfs/disk/root.qcow2"], f"meta.json {meta}")
    with open(os.path.join(img, "rootfs", "disk", "root.qcow2"), "rb") as a, open(src, "rb") as b:
        check(a.read() == b.read(), "the disk is not the qcow2's contents as raw")
    check(not [n for n in os.listdir(os.path.join(img, "rootfs", "disk")) if ".tmp" in n],
          "a temporary file is left")


def test_pull_by_digest():
    root = new_root("digest")
    manifest_digest, cfg = IMG["v1"]
    ref = f"{REG.host}/kvmlet/testdisk@{manifest_digest}"
    code, out, err = tool(root, "pull", ref, insecure=[REG.host])
    check(code == 0 and out == [cfg], f"pull: {out} {err}")
    code, st, err = tool(root, "status", ref)
    check(code == 0 and st["repo_tags"] == [] and st["repo_digests"] == [ref], f"status: {st}")
    # A digest that does not exist is "not found".
    code, _, err = tool(root, "pull", f"{REG.host}/kvmlet/testdisk@sha256:" + "0" * 64,
                        insecure=[REG.host])
    check(code == 2 and "not found" in err, f"missing digest: {code} {err}")


def test_pull_from_index():
    root = new_root("index")
    idx_digest, cfg_amd, cfg_arm = IMG["multi"]
    ref = f"{REG.host}/kvmlet/multi:v1"
    code, out, err = tool(root, "pull", ref, insecure=[REG.host])
    check(code == 0 and out == [cfg_amd], f"pull: {out} {err}")
    code, st, _ = tool(root, "status", ref)
    check(st["repo_digests"] == [f"{REG.host}/kvmlet/multi@{idx_digest}"], f"status: {st}")
    check(st.get("username") == "qemu" and "uid" not in st, f"user: {st}")
    check(cfg_arm[7:] not in blobs_on_disk(root), "the arm64 config was fetched")
    check(idx_digest[7:] in blobs_on_disk(root), "the index is not kept")
    check_blobs_verified(root)


def test_plain_http_needs_insecure():
    root = new_root("tls")
    code, _, err = tool(root, "pull", f"{REG.host}/kvmlet/testdisk:v1")
    check(code != 0, "pulled over HTTPS from a plain HTTP registry?")
    check(blobs_on_disk(root) == [], "blobs left behind")


def test_concurrent_pulls():
    root = new_root("concurrent")
    ref = f"{REG.host}/kvmlet/testdisk:v1"
    code, out, err = tool(root, "pull", ref, ref, ref, ref, insecure=[REG.host])
    check(code == 0 and out == [IMG["v1"][1]] * 4, f"pulls: {out} {err}")
    check(len(blobs_on_disk(root)) == 4, f"blobs: {blobs_on_disk(root)}")
    check_blobs_verified(root)


def test_auth():
    htpasswd = os.path.join(TMP, "htpasswd")
    if not shutil.which("htpasswd"):
        skip("htpasswd (apache2-utils) is not installed")
    p = subprocess.run(["htpasswd", "-Bbn", "kvmlet", "s3cret"], capture_output=True, text=True)
    check(p.returncode == 0, p.stderr)
    with open(htpasswd, "w") as f:
        f.write(p.stdout)
    reg = Registry("auth", htpasswd=htpasswd)
    reg.start()
    try:
        skopeo_push(LAYOUT, "v1", f"{reg.host}/kvmlet/private:v1", creds="kvmlet:s3cret")
        root = new_root("auth")
        ref = f"{reg.host}/kvmlet/private:v1"
        code, _, err = tool(root, "pull", ref, insecure=[reg.host])
        check(code != 0 and ("credentials" in err or "denied" in err), f"anonymous: {err}")
        code, _, err = tool(root, "pull", ref, insecure=[reg.host], creds=("kvmlet", "wrong"))
        check(code != 0 and "denied" in err, f"wrong password: {err}")
        code, out, err = tool(root, "pull", ref, insecure=[reg.host], creds=("kvmlet", "s3cret"))
        check(code == 0 and out == [IMG["v1"][1]], f"with credentials: {err}")
        check_blobs_verified(root)
    finally:
        reg.stop()


def test_registry_killed_mid_pull():
    reg = Registry("killed")
    reg.start()
    layout = Layout("big")
    # An uncompressed layer of random bytes, large enough to be cut.
    m, cfg = layout.image([{"disk/disk.img": os.urandom(8 << 20)}], plain=True)
    layout.tag("v1", m, OCI_MANIFEST)
    skopeo_push(layout, "v1", f"{reg.host}/kvmlet/big:v1")
    # skopeo compresses the layer on its way: ask the registry what it holds.
    req = urllib.request.Request(f"http://{reg.host}/v2/kvmlet/big/manifests/v1",
                                 headers={"Accept": OCI_MANIFEST})
    with urllib.request.urlopen(req, timeout=10) as r:
        victim = json.loads(r.read())["layers"][0]["digest"]
    proxy = CuttingProxy(reg, lambda path, length: victim in path)
    root = new_root("killed")
    try:
        code, _, err = tool(root, "pull", f"{proxy.host}/kvmlet/big:v1", insecure=[proxy.host])
        check(proxy.cut.is_set(), f"the blob was never cut: {err}")
        check(code != 0, "a pull from a killed registry succeeded")
        # No temporary file, no partial blob, no image: only verified blobs.
        check_blobs_verified(root)
        check(victim[7:] not in blobs_on_disk(root), "the cut blob is in the store")
        check(images_on_disk(root) == [], f"images: {images_on_disk(root)}")
        # After a restart the store collects what no image needs, and the next pull works.
        code, _, _ = tool(root, "list")
        check(blobs_on_disk(root) == [], f"blobs after reopen: {blobs_on_disk(root)}")
        reg.start()
        code, out, err = tool(root, "pull", f"{reg.host}/kvmlet/big:v1", insecure=[reg.host])
        check(code == 0 and out == [cfg], f"pull after restart: {err}")
        check_blobs_verified(root)
    finally:
        proxy.close()
        reg.stop()


# Over the 8 KiB a header buffer once held: such tokens must go out whole.
GOOD_TOKEN = "good-token." + "x" * 9000


class FakeRegistry:
    """A registry in this process, serving a layout: Bearer tokens from its own
    realm, one 503 before each manifest, and blobs redirected to a "storage"
    server on another origin, which records any Authorization it is sent."""

    def __init__(self, layout, repo, creds=None, lie=None, token=GOOD_TOKEN,
                 scheme_relative=False):
        self.layout, self.repo, self.creds, self.lie = layout, repo, creds, lie
        self.token_value, self.scheme_relative = token, scheme_relative
        self.token_queries, self.storage_auth, self.failed_once = [], [], set()
        self.storage_gets = {}
        self.storage = self.serve(self.storage_handler())
        self.api = self.serve(self.api_handler())
        self.host = f"127.0.0.1:{self.api.server_address[1]}"

    @staticmethod
    def serve(handler):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return srv

    def blob(self, digest):
        path = os.path.join(self.layout.dir, "blobs", "sha256", digest[7:])
        if not digest.startswith("sha256:") or not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def api_handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                if url.path == "/token":
                    return self.token(urllib.parse.parse_qs(url.query))
                if self.headers.get("Authorization") != "Bearer " + fake.token_value:
                    realm = f"http://{fake.host}/token"
                    return self.send(401, b"{}", [(
                        "WWW-Authenticate",
                        f'Bearer realm="{realm}",service="fake",'
                        f'scope="repository:{fake.repo}:pull"')])
                if url.path == "/v2/":
                    return self.send(200, b"{}")
                prefix = f"/v2/{fake.repo}/"
                if not url.path.startswith(prefix):
                    return self.send(404)
                kind, _, name = url.path[len(prefix):].partition("/")
                if kind == "manifests":
                    return self.manifest(name)
                if kind == "blobs":
                    loc = f"//127.0.0.1:{fake.storage.server_address[1]}/storage/{name}"
                    loc = loc if fake.scheme_relative else "http:" + loc
                    return self.send(307, b"", [("Location", loc)])
                return self.send(404)

            def do_POST(self):
                url = urllib.parse.urlparse(self.path)
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                if url.path != "/token" or form.get("grant_type") != ["refresh_token"]:
                    return self.send(400, b"{}")
                fake.token_queries.append(form)
                if form.get("refresh_token") != ["refresh-me"]:
                    return self.send(401, b"{}")
                self.send(200, json.dumps({"access_token": GOOD_TOKEN}).encode(),
                          [("Content-Type", "application/json")])

            def token(self, query):
                fake.token_queries.append(query)
                if fake.creds:
                    import base64
                    want = "Basic " + base64.b64encode(fake.creds.encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self.send(401, b"{}")
                self.send(200, json.dumps({"token": fake.token_value,
                                           "expires_in": 300}).encode(),
                          [("Content-Type", "application/json")])

            def manifest(self, name):
                if name not in fake.failed_once:
                    fake.failed_once.add(name)  # one 503: the client retries
                    return self.send(503, b"busy")
                for d in fake.layout.index["manifests"]:
                    tag = d.get("annotations", {}).get("org.opencontainers.image.ref.name")
                    if name in (tag, d["digest"]):
                        name, mt = d["digest"], d["mediaType"]
                        break
                else:
                    mt = OCI_MANIFEST
                body = fake.blob(name)
                if body is None:
                    return self.send(404)
                self.send(200, body, [("Content-Type", mt), ("Docker-Content-Digest", name)])

        return H

    def storage_handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.headers.get("Authorization"):
                    fake.storage_auth.append(self.headers.get("Authorization"))
                name = self.path.rsplit("/", 1)[-1]
                fake.storage_gets[name] = fake.storage_gets.get(name, 0) + 1
                body = fake.blob(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                length = len(body)
                if fake.lie == "short":
                    length -= 10  # says less than it sends: the blob comes up short
                elif fake.lie == "content":
                    body = bytes(b ^ 1 for b in body[:16]) + body[16:]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body[:length])

        return H

    def close(self):
        self.api.shutdown()
        self.storage.shutdown()


def test_scheme_relative_redirect_leaves_the_registry():
    """A Location of //host/path goes to that host (RFC 3986), without the
    registry's credentials."""
    fake = FakeRegistry(LAYOUT, "kvmlet/fake", scheme_relative=True)
    try:
        root = new_root("scheme-relative")
        code, out, err = tool(root, "pull", f"{fake.host}/kvmlet/fake:v1", insecure=[fake.host])
        check(code == 0 and out == [IMG["v1"][1]], f"pull: {err}")
        check(fake.storage_gets, "blob storage never asked")
        check(fake.storage_auth == [], f"credentials sent to blob storage: {fake.storage_auth}")
    finally:
        fake.close()


def test_token_that_would_split_a_header_is_refused():
    fake = FakeRegistry(LAYOUT, "kvmlet/fake", token="abc\r\nX-Injected: 1")
    try:
        root = new_root("crlf-token")
        code, _, err = tool(root, "pull", f"{fake.host}/kvmlet/fake:v1", insecure=[fake.host])
        check(code != 0 and "control characters" in err, f"pull with a CR LF token: {err}")
        check(images_on_disk(root) == [], f"images: {images_on_disk(root)}")
    finally:
        fake.close()


def test_bearer_redirect_retry():
    fake = FakeRegistry(LAYOUT, "kvmlet/fake", creds="kvmlet:t0ken")
    try:
        root = new_root("bearer")
        ref = f"{fake.host}/kvmlet/fake:v1"
        code, _, err = tool(root, "pull", ref, insecure=[fake.host])
        check(code != 0, "pulled without the token endpoint's credentials")
        code, out, err = tool(root, "pull", ref, insecure=[fake.host], creds=("kvmlet", "t0ken"))
        check(code == 0 and out == [IMG["v1"][1]], f"pull: {err}")
        q = fake.token_queries[-1]
        check(q.get("service") == ["fake"] and q.get("scope") == ["repository:kvmlet/fake:pull"],
              f"token query: {q}")
        check(fake.storage_auth == [], f"credentials sent to blob storage: {fake.storage_auth}")
        check_blobs_verified(root)
    finally:
        fake.close()


def test_cri_tokens():
    """CRI AuthConfig's identity token (an OAuth2 refresh token, POSTed to the
    realm) and registry token (sent as the bearer token, no realm at all)."""
    fake = FakeRegistry(LAYOUT, "kvmlet/fake")
    try:
        ref = f"{fake.host}/kvmlet/fake:v1"
        code, out, err = tool(new_root("identity"), "pull", ref, insecure=[fake.host],
                              options=["--identity-token", "refresh-me"])
        check(code == 0 and out == [IMG["v1"][1]], f"identity token: {err}")
        form = fake.token_queries[-1]
        check(form.get("scope") == ["repository:kvmlet/fake:pull"], f"token form: {form}")
        code, _, err = tool(new_root("identity-bad"), "pull", ref, insecure=[fake.host],
                            options=["--identity-token", "stale"])
        check(code != 0 and "denied" in err, f"a stale identity token: {err}")
        asked = len(fake.token_queries)
        code, out, err = tool(new_root("regtoken"), "pull", ref, insecure=[fake.host],
                              options=["--registry-token", GOOD_TOKEN])
        check(code == 0 and out == [IMG["v1"][1]], f"registry token: {err}")
        check(len(fake.token_queries) == asked, "the realm was asked despite a registry token")
    finally:
        fake.close()


def test_shared_downloads():
    """Six concurrent pulls of one image fetch each blob once."""
    fake = FakeRegistry(LAYOUT, "kvmlet/fake")
    try:
        root = new_root("shared")
        ref = f"{fake.host}/kvmlet/fake:v1"
        code, out, err = tool(root, "pull", *[ref] * 6, insecure=[fake.host])
        check(code == 0 and out == [IMG["v1"][1]] * 6, f"pulls: {err}")
        check(len(fake.storage_gets) == 3 and set(fake.storage_gets.values()) == {1},
              f"blob downloads: {fake.storage_gets}")
        check_blobs_verified(root)
    finally:
        fake.close()


def refused_before_download(tag, body, edit_layer, words):
    """A pull of an image whose one layer edit_layer() changed fails with
    words in its error, before fetching any blob."""
    m, _ = LAYOUT.image([{"disk/disk.img": body}])
    doc = json.loads(m)
    edit_layer(doc["layers"][0])
    LAYOUT.tag(tag, json.dumps(doc).encode(), OCI_MANIFEST)
    fake = FakeRegistry(LAYOUT, "kvmlet/fake")
    try:
        code, _, err = tool(new_root(tag), "pull", f"{fake.host}/kvmlet/fake:{tag}",
                            insecure=[fake.host])
        check(code != 0 and words in err, f"pull: {code} {err}")
        check(fake.storage_gets == {}, f"downloaded: {fake.storage_gets}")
    finally:
        fake.close()


def test_zstd_refused_before_download():
    """A zstd layer cannot be unpacked: the pull fails before fetching any blob."""
    refused_before_download(
        "zstd", b"zstd disk",
        lambda layer: layer.update(mediaType="application/vnd.oci.image.layer.v1.tar+zstd"),
        "not supported")


def test_oversized_layers_refused_before_download():
    """Layers announced past the 64 GiB image cap are not downloaded at all."""
    refused_before_download("huge", b"huge disk", lambda layer: layer.update(size=70 << 30),
                            "over the image cap")


def test_lying_registry():
    for lie, words in (("short", "bytes where"), ("content", "digest is")):
        fake = FakeRegistry(LAYOUT, "kvmlet/fake", lie=lie)
        try:
            root = new_root("liar-" + lie)
            code, _, err = tool(root, "pull", f"{fake.host}/kvmlet/fake:v1", insecure=[fake.host])
            check(code != 0 and words in err, f"{lie}: {code} {err}")
            check(err.count("blob sha256:") == 1, f"{lie}: the blob named more than once: {err}")
            check_blobs_verified(root)
            check(images_on_disk(root) == [], f"{lie}: images {images_on_disk(root)}")
        finally:
            fake.close()


if __name__ == "__main__":
    try:
        setup()
        main([test_pull_by_tag_status_rm, test_pull_qcow2, test_pull_by_digest, test_pull_from_index,
              test_plain_http_needs_insecure, test_concurrent_pulls, test_auth,
              test_bearer_redirect_retry, test_scheme_relative_redirect_leaves_the_registry,
              test_token_that_would_split_a_header_is_refused, test_cri_tokens, test_shared_downloads,
              test_zstd_refused_before_download, test_oversized_layers_refused_before_download,
              test_lying_registry,
              test_registry_killed_mid_pull])
    finally:
        if REG:
            REG.stop()
        shutil.rmtree(TMP, ignore_errors=True)

# SPDX-License-Identifier: Apache-2.0
"""Container images for the containerd + runc reference, built here with
the standard library from Debian's busybox-static (nothing can be pulled
from the internet on the test machines): one gzip layer with
/bin/busybox and links for the applets the tests run, an OCI image
config, manifest and index in an OCI layout that skopeo pushes to the
local registry.

    layout = busybox_image.build(workdir)          # tags "busybox" and "pause"
    busybox_image.push(layout, reg.host)           # REG/kvmlet/busybox:v1, REG/kvmlet/pause:v1

"pause" is the same layer with `sleep infinity` as its entrypoint: the
sandbox image containerd runs for every pod (containerd sends it SIGKILL
on StopPodSandbox, so it needs no signal handling). The tar is
deterministic (fixed owners and mtimes), so rebuilding gives the same
digests."""
import gzip
import hashlib
import io
import json
import os
import tarfile

import registry

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "sleep", "cat", "true", "false", "ls", "wc", "date")
REPO_BUSYBOX = "kvmlet/busybox"
REPO_PAUSE = "kvmlet/pause"


def available():
    if not os.path.exists(BUSYBOX):
        return f"{BUSYBOX} is missing (busybox-static, scripts/install-deps)"
    with open(BUSYBOX, "rb") as f:
        if b"/lib64/ld-linux" in f.read(4096):
            return f"{BUSYBOX} is dynamically linked: busybox-static is needed"
    return None


def _layer():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(ti)
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            add_dir(d)
        with open(BUSYBOX, "rb") as f:
            data = f.read()
        ti = tarfile.TarInfo("bin/busybox")
        ti.size, ti.mode, ti.mtime = len(data), 0o755, 0
        tar.addfile(ti, io.BytesIO(data))
        for a in APPLETS:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, "busybox", 0o777, 0
            tar.addfile(ti)
        passwd = b"root:x:0:0:root:/:/bin/sh\n"
        ti = tarfile.TarInfo("etc/passwd")
        ti.size, ti.mode, ti.mtime = len(passwd), 0o644, 0
        tar.addfile(ti, io.BytesIO(passwd))
    raw = buf.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(raw)
    return raw, gz.getvalue()


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest, len(data)


def _jbytes(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build(workdir):
    """The OCI layout with tags "busybox" and "pause"; returns its path."""
    layout = os.path.join(workdir, "busybox-layout")
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    raw, gz = _layer()
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    layer_digest, layer_size = _blob(layout, gz)
    manifests = []
    for tag, cfg in (("busybox", {"Cmd": ["sh"]}),
                     ("pause", {"Entrypoint": ["/bin/sleep", "infinity"]})):
        config = {"architecture": "amd64", "os": "linux",
                  "config": {"Env": ["PATH=/bin"], **cfg},
                  "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        cd, cs = _blob(layout, _jbytes(config))
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": cd, "size": cs},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                "digest": layer_digest, "size": layer_size}]}
        md, ms = _blob(layout, _jbytes(manifest))
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": md, "size": ms,
                          "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(_jbytes({"schemaVersion": 2, "manifests": manifests}))
    with open(os.path.join(layout, "oci-layout"), "wb") as f:
        f.write(_jbytes({"imageLayoutVersion": "1.0.0"}))
    return layout


def push(layout, host):
    """Pushes both tags; returns (busybox ref, pause ref)."""
    refs = []
    for tag, repo in (("busybox", REPO_BUSYBOX), ("pause", REPO_PAUSE)):
        ref = f"{host}/{repo}:v1"
        registry.skopeo("copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:{tag}",
                        f"docker://{ref}")
        refs.append(ref)
    return tuple(refs)

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kvmlet-image build: the firmware (and two disks) packed as a VM image,
checked as an OCI layout, pushed to a real docker-registry with skopeo,
inspected there, and pulled back with the same digests.

    test_image_build.py KVMLET_IMAGE_BINARY
"""
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

from harness import FIRMWARE, Failure, check, skip
import registry

CMDLINE = "console=ttyS0 reboot=k panic=1"
TAG = "v1"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(tool, out, disks, extra=()):
    args = [tool, "build", "--kernel", FIRMWARE, "--cmdline", CMDLINE, "--output", out,
            "--tag", TAG, *extra]
    for d in disks:
        args += ["--disk", d]
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"kvmlet-image build failed: {p.stderr}")
    return p.stdout.strip()


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        data = f.read()
    check(sha256(data) == digest, f"blob {digest} does not hash to its name")
    return data


def read_layout(layout):
    """(manifest digest, manifest, config) of the image tagged TAG."""
    with open(os.path.join(layout, "oci-layout")) as f:
        check(json.load(f) == {"imageLayoutVersion": "1.0.0"}, "oci-layout")
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    check(index["schemaVersion"] == 2, "index schemaVersion")
    mans = [m for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == TAG]
    check(len(mans) == 1, f"index.json has no single manifest tagged {TAG}: {index}")
    desc = mans[0]
    check(desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json", "manifest type")
    raw = blob(layout, desc["digest"])
    check(len(raw) == desc["size"], "manifest size")
    manifest = json.loads(raw)
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    return desc["digest"], manifest, config


def check_layout(layout, disks):
    digest, manifest, config = read_layout(layout)
    check(manifest["schemaVersion"] == 2, "manifest schemaVersion")
    check(manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json",
          "config media type")
    check(config["architecture"] == "amd64" and config["os"] == "linux", "platform")
    check(config["config"]["Labels"] == {"io.kvmlet.kernel.cmdline": CMDLINE}, "label")
    layers = manifest["layers"]
    check(len(layers) == 1 + len(disks), f"{len(layers)} layers")
    check(config["rootfs"]["type"] == "layers", "rootfs type")
    diff_ids = config["rootfs"]["diff_ids"]
    check(len(diff_ids) == len(layers), "one diff_id per layer")
    with open(FIRMWARE, "rb") as f:
        kernel = f.read()
    want = [[("boot", None, 0, 0o755), ("boot/vmlinuz", kernel, 0, 0o444)]]
    for d in disks:
        with open(d, "rb") as f:
            want.append([("disk", None, 0, 0o755),
                         ("disk/" + os.path.basename(d), f.read(), 107, 0o444)])
    for desc, diff_id, entries in zip(layers, diff_ids, want):
        check(desc["mediaType"] == LAYER, f"layer media type {desc['mediaType']}")
        gz = blob(layout, desc["digest"])
        check(len(gz) == desc["size"], "layer size")
        tar = gzip.decompress(gz)
        check(sha256(tar) == diff_id, "diff_id is the uncompressed tar's digest")
        with tarfile.open(fileobj=io.BytesIO(tar)) as t:
            got = t.getmembers()
            check([m.name for m in got] == [e[0] for e in entries],
                  f"entries {[m.name for m in got]}")
            for m, (name, data, uid, mode) in zip(got, entries):
                check(m.mtime == 0, f"{name}: mtime {m.mtime}")
                check(m.uid == uid and m.gid == uid, f"{name}: owner {m.uid}:{m.gid}")
                check(m.mode == mode, f"{name}: mode {oct(m.mode)}")
                if data is not None:
                    check(t.extractfile(m).read() == data, f"{name}: contents")
    return digest, manifest, config


def check_usage(tool, tmp, disks):
    out = os.path.join(tmp, "bad")
    p = subprocess.run([tool, "build", "--kernel", FIRMWARE, "--output", out, "--tag", TAG,
                        "--disk", disks[1], "--disk", disks[0]], capture_output=True, text=True)
    check(p.returncode == 2 and "name order" in p.stderr, f"disks out of order: {p.stderr}")
    p = subprocess.run([tool, "build", "--kernel", os.path.join(tmp, "missing"),
                        "--output", out, "--tag", TAG], capture_output=True, text=True)
    check(p.returncode == 1 and "missing" in p.stderr, f"missing kernel: {p.stderr}")
    p = subprocess.run([tool, "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "--disk" in p.stdout, "--help")


def push_and_pull(tmp, layout, digest, manifest, config):
    with registry.Registry(tmp) as reg:
        ref = f"docker://{reg.host}/kvmlet/testguest:{TAG}"
        registry.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:{TAG}", ref)
        info = json.loads(registry.skopeo("inspect", "--tls-verify=false", ref))
        check(info["Digest"] == digest, f"registry digest {info['Digest']} != {digest}")
        check(info["Labels"] == {"io.kvmlet.kernel.cmdline": CMDLINE}, "labels")
        check(info["Architecture"] == "amd64" and info["Os"] == "linux", "platform")
        check(info["Layers"] == [l["digest"] for l in manifest["layers"]], "layers")
        raw = registry.skopeo("inspect", "--tls-verify=false", "--raw", ref)
        check(json.loads(raw) == manifest, "the registry serves our manifest")
        got = json.loads(registry.skopeo("inspect", "--tls-verify=false", "--config", ref))
        check(got == config, "the registry serves our config")
        status, headers, _ = reg.get(f"/v2/kvmlet/testguest/manifests/{TAG}",
                                     accept="application/vnd.oci.image.manifest.v1+json")
        check(status == 200 and headers.get("Docker-Content-Digest") == digest,
              f"GET manifest: {status} {headers}")

        other = os.path.join(tmp, "pulled")
        registry.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{other}:{TAG}")
        pdigest, pmanifest, pconfig = read_layout(other)
        check(pdigest == digest, f"pulled manifest {pdigest} != {digest}")
        check(pmanifest == manifest and pconfig == config, "pulled manifest and config")
        for l in manifest["layers"]:
            check(blob(other, l["digest"]) == blob(layout, l["digest"]), "pulled layer")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: test_image_build.py KVMLET_IMAGE")
    tool = sys.argv[1]
    if not os.path.exists(FIRMWARE):
        skip(f"no firmware at {FIRMWARE}")
    missing = registry.available()
    if missing:
        skip(missing)
    tmp = tempfile.mkdtemp(prefix="kvmlet-image-build-")
    try:
        disks = [os.path.join(tmp, "a-root.img"), os.path.join(tmp, "b-data.qcow2")]
        with open(disks[0], "wb") as f:
            f.write(os.urandom(1 << 20))
        if shutil.which("qemu-img"):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disks[1], "64M"],
                           check=True)
        else:
            with open(disks[1], "wb") as f:
                f.write(b"QFI\xfb" + bytes(508))
        layout = os.path.join(tmp, "layout")
        digest = build(tool, layout, disks)
        check(build(tool, os.path.join(tmp, "again"), disks) == digest,
              "the same inputs give the same image digest")
        got = check_layout(layout, disks)
        check(got[0] == digest, "kvmlet-image prints the manifest digest")
        check_usage(tool, tmp, disks)
        push_and_pull(tmp, layout, *got)
    except (Failure, RuntimeError) as e:
        print(f"FAIL: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: kvmlet-image build, pushed with skopeo and pulled back")
    return 0


if __name__ == "__main__":
    sys.exit(main())

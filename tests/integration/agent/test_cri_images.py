#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The CRI ImageService of kvmlet-agent over real gRPC, against a real
docker-registry with htpasswd auth: VM images built with kvmlet-image (the
firmware with a raw disk, and one with a qcow2 disk), pushed with skopeo,
pulled by tag, by digest and with every kind of AuthConfig; ImageStatus by
tag, digest, id and short id; ListImages; RemoveImage; concurrent pulls of
one image; a pull cut off by killing the registry; an agent restart. The
store is checked on disk after each step.

    test_cri_images.py KVMLET_AGENT KVMLET_IMAGE
"""
import atexit
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import FIRMWARE, check, main, skip, unix_http_get
import cri_client
import registry

if registry.available():
    skip(registry.available())
if not shutil.which("qemu-img") or not shutil.which("htpasswd"):
    skip("qemu-img (qemu-utils) and htpasswd (apache2-utils) are needed")
if not os.path.exists(FIRMWARE):
    skip(f"no firmware at {FIRMWARE}")
cri_client.ensure_grpc()
import grpc  # noqa: E402

AGENT = sys.argv[1] if len(sys.argv) > 1 else "build/bin/kvmlet-agent"
IMAGE = sys.argv[2] if len(sys.argv) > 2 else "build/bin/kvmlet-image"
TMP = tempfile.mkdtemp(prefix="kvmlet-cri-img-")
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
SOCK = os.path.join(TMP, "cri.sock")
METRICS = os.path.join(TMP, "metrics.sock")
ROOT = os.path.join(TMP, "root")
STORE = os.path.join(ROOT, "images")  # the agent's image store
API = cri_client.load_api()
SC = grpc.StatusCode
USER, PASSWORD = "kvm", "let-me-in"
CREDS = f"{USER}:{PASSWORD}"
CMDLINE = "console=ttyS0 reboot=k panic=1"
QCOW_VIRTUAL = 8 << 20


def run(*args, timeout=120):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    check(p.returncode == 0, f"{' '.join(args)}: {p.stderr}")
    return p.stdout.strip()


def build(name, disks):
    """A VM image layout; returns (layout dir, manifest digest)."""
    out = os.path.join(TMP, "layout-" + name)
    args = [IMAGE, "build", "--kernel", FIRMWARE, "--cmdline", CMDLINE, "--output", out,
            "--tag", "v1"]
    for d in disks:
        args += ["--disk", d]
    return out, run(*args)


def config_digest(layout, manifest_digest):
    with open(os.path.join(layout, "blobs", "sha256", manifest_digest[7:])) as f:
        return json.load(f)["config"]["digest"]


def add_index(layout, manifest_digest, tag):
    """Wraps the image in an OCI index (linux/amd64 next to an arm64 entry
    naming the same manifest) tagged `tag` in the layout."""
    with open(os.path.join(layout, "blobs", "sha256", manifest_digest[7:]), "rb") as f:
        size = len(f.read())
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": manifest_digest, "size": size}
    body = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [dict(entry, platform={"os": "linux",
                                                           "architecture": "arm64"}),
                                     dict(entry, platform={"os": "linux",
                                                           "architecture": "amd64"})]}).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest[7:]), "wb") as f:
        f.write(body)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                               "digest": digest, "size": len(body),
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    return digest


def push(layout, dest, tag="v1", all_images=False):
    registry.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", CREDS,
                    *(["--all"] if all_images else []), f"oci:{layout}:{tag}",
                    f"docker://{dest}")


class Agent:
    starts = 0

    def __init__(self):
        Agent.starts += 1
        self.log = open(os.path.join(TMP, f"agent-{Agent.starts}.log"), "w")
        self.p = subprocess.Popen(
            [AGENT, "--listen", f"unix://{SOCK}", "--root", ROOT, "--metrics-listen", METRICS,
             "--cni-conf-dir", TMP, "--insecure-registries", ",".join(INSECURE)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.p.poll() is None:
            if "kvmlet-agent started" in open(self.log.name).read():
                break
            time.sleep(0.02)  # polling the log, bounded; not a synchronisation
        check(self.p.poll() is None, f"agent exited: {open(self.log.name).read()}")
        self.c = cri_client.CriClient(SOCK, API)

    def stop(self):
        self.c.close()
        self.p.send_signal(signal.SIGTERM)
        check(self.p.wait(timeout=30) == 0, "agent did not exit 0")
        self.log.close()


def spec(name):
    return API.ImageSpec(image=name)


def pull(name, auth=None, timeout=60):
    req = API.PullImageRequest(image=spec(name), auth=auth,
                               sandbox_config=API.PodSandboxConfig(
                                   metadata=API.PodSandboxMetadata(name="p", namespace="ns")))
    return AG.c.image("PullImage", req, timeout=timeout).image_ref


def good_auth():
    return API.AuthConfig(username=USER, password=PASSWORD)


def status(name, verbose=False):
    return AG.c.image("ImageStatus", API.ImageStatusRequest(image=spec(name), verbose=verbose))


def image_dir(image_id):
    return os.path.join(STORE, "images", image_id[7:])


def image_dirs():
    return sorted(os.listdir(os.path.join(STORE, "images")))


def leftovers():
    """Temporary files or directories anywhere in the store."""
    out = []
    for d, dirs, files in os.walk(STORE):
        out += [os.path.join(d, n) for n in dirs + files if ".tmp" in n or n.startswith(".del-")]
    return out


def metric(name, labels=""):
    data = unix_http_get(METRICS, "/metrics")
    m = re.search("^" + re.escape(name + labels) + r" (\S+)$", data, re.M)
    return float(m.group(1)) if m else None


# ---- the images and the registry ----------------------------------------------

RAW_DISK = os.path.join(TMP, "root.img")
with open(RAW_DISK, "wb") as f:
    f.write(b"kvmlet raw disk\n" * 4096)
QCOW_SRC = os.path.join(TMP, "qsrc.img")
with open(QCOW_SRC, "wb") as f:
    f.truncate(QCOW_VIRTUAL)
    f.seek(1 << 20)
    f.write(b"data in the qcow2 disk\n" * 1000)
QCOW = os.path.join(TMP, "root.qcow2")
run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", QCOW_SRC, QCOW)
with open(QCOW, "rb") as f:
    check(f.read(4) == b"QFI\xfb", "qemu-img made no qcow2")
# A qcow2 whose backing file names a host file: refused at pull time.
BACKED = os.path.join(TMP, "backed.qcow2")
run("qemu-img", "create", "-f", "qcow2", "-b", QCOW_SRC, "-F", "raw", BACKED)
BIG_DISK = os.path.join(TMP, "big.img")
with open(BIG_DISK, "wb") as f:
    f.write(os.urandom(8 << 20))  # random: compression keeps it big enough to cut

FW_LAYOUT, FW_MANIFEST = build("fw", [RAW_DISK])
Q_LAYOUT, Q_MANIFEST = build("qcow", [QCOW])
BIG_LAYOUT, BIG_MANIFEST = build("big", [BIG_DISK])
BACKED_LAYOUT, BACKED_MANIFEST = build("backed", [BACKED])
FW_ID = config_digest(FW_LAYOUT, FW_MANIFEST)
Q_ID = config_digest(Q_LAYOUT, Q_MANIFEST)
BIG_ID = config_digest(BIG_LAYOUT, BIG_MANIFEST)

HTPASSWD = os.path.join(TMP, "htpasswd")
registry.write_htpasswd(HTPASSWD, USER, PASSWORD)
REG = registry.Registry(TMP, htpasswd=HTPASSWD).start()
atexit.register(REG.stop)
FW = f"{REG.host}/kvmlet/fw:v1"
QC = f"{REG.host}/kvmlet/qcow:v1"
push(FW_LAYOUT, FW)
FW_INDEX = add_index(FW_LAYOUT, FW_MANIFEST, "multi")
FW_MULTI = f"{REG.host}/kvmlet/fw-multi:v1"
push(FW_LAYOUT, FW_MULTI, tag="multi", all_images=True)
push(Q_LAYOUT, QC)
push(BIG_LAYOUT, f"{REG.host}/kvmlet/big:v1")
push(BACKED_LAYOUT, f"{REG.host}/kvmlet/backed:v1")
# skopeo recompresses nothing for OCI layouts: the digests stay kvmlet-image's.
FW_BY_DIGEST = f"{REG.host}/kvmlet/fw@{FW_MANIFEST}"


# The first blob of at least 1 MiB is cut halfway and the registry killed.
PROXY = registry.CuttingProxy(REG, lambda path, length: "/blobs/" in path and length >= 1 << 20)
INSECURE = [REG.host, PROXY.host]
AG = Agent()


# ---- the tests ------------------------------------------------------------------

def test_image_fs_info():
    before = time.time_ns()
    fs = AG.c.image("ImageFsInfo").image_filesystems
    check(len(fs) == 1, f"image_filesystems: {fs}")
    u = fs[0]
    check(u.fs_id.mountpoint.startswith("/"), f"mountpoint {u.fs_id.mountpoint!r}")
    check(u.used_bytes.value > 0 and u.inodes_used.value >= 1, f"usage {u}")
    check(abs(u.timestamp - before) < 60 * 10**9, f"timestamp {u.timestamp} is not ns now")
    check(len(AG.c.image("ImageFsInfo").container_filesystems) == 0, "container filesystems")


def test_pull_auth():
    code, msg = AG.c.code_of(pull, FW)
    check(code != SC.OK, "pulled from an htpasswd registry without credentials")
    bad = API.AuthConfig(username=USER, password="wrong")
    code, msg = AG.c.code_of(pull, FW, bad)
    check(code != SC.OK, f"bad credentials: {code} {msg!r}")
    check(image_dirs() == [], f"a failed pull left {image_dirs()}")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_pull_by_tag():
    ref = pull(FW, good_auth())
    check(ref == FW_ID, f"image_ref {ref} is not the image id {FW_ID}")
    d = image_dir(FW_ID)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    check(meta["kernel"] == "rootfs/boot/vmlinuz" and meta["cmdline"] == CMDLINE
          and meta["disks"] == ["rootfs/disk/root.img"], f"meta.json {meta}")
    with open(os.path.join(d, meta["kernel"]), "rb") as a, open(FIRMWARE, "rb") as b:
        check(a.read() == b.read(), "the kernel differs from the firmware")
    with open(os.path.join(d, meta["disks"][0]), "rb") as a, open(RAW_DISK, "rb") as b:
        check(a.read() == b.read(), "the raw disk differs")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_pull_by_digest():
    # AuthConfig.auth: base64 "user:password", as kubelet passes a docker config.
    auth = API.AuthConfig(auth=base64.b64encode(CREDS.encode()).decode())
    check(pull(FW_BY_DIGEST, auth) == FW_ID, "by digest: another id")
    img = status(FW_BY_DIGEST).image
    check(f"{REG.host}/kvmlet/fw@{FW_MANIFEST}" in img.repo_digests,
          f"repo_digests {list(img.repo_digests)}")


def test_pull_from_index():
    """An index resolves to linux/amd64; its digest is the repo digest."""
    check(pull(FW_MULTI, good_auth()) == FW_ID, "from an index: another id")
    img = status(FW_MULTI).image
    check(f"{REG.host}/kvmlet/fw-multi@{FW_INDEX}" in img.repo_digests,
          f"repo_digests {list(img.repo_digests)} lack the index {FW_INDEX}")
    check(FW_MULTI in img.repo_tags and FW in img.repo_tags, f"repo_tags {list(img.repo_tags)}")
    check(image_dirs() == [FW_ID[7:]], f"dirs {image_dirs()}")
    AG.c.image("RemoveImage", API.RemoveImageRequest(image=spec(FW_MULTI)))
    check(image_dirs() == [], f"dirs after removal {image_dirs()}")
    check(not status(FW).HasField("image"), "the whole image goes, every tag with it")
    check(pull(FW, good_auth()) == FW_ID, "pulled again")


def test_pull_qcow2():
    check(pull(QC, good_auth()) == Q_ID, "qcow2 image: another id")
    with open(os.path.join(image_dir(Q_ID), "meta.json")) as f:
        meta = json.load(f)
    disk = os.path.join(image_dir(Q_ID), meta["disks"][0])
    check(meta["disks"] == ["rootfs/disk/root.qcow2"], f"disks {meta['disks']}")
    check(os.path.getsize(disk) == QCOW_VIRTUAL, f"raw size {os.path.getsize(disk)}")
    with open(disk, "rb") as a, open(QCOW_SRC, "rb") as b:
        check(a.read() == b.read(), "the converted disk differs from the qcow2's contents")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_qcow2_backing_file_refused():
    code, msg = AG.c.code_of(pull, f"{REG.host}/kvmlet/backed:v1", good_auth())
    check(code != SC.OK and "backing file" in msg, f"backing file: {code} {msg!r}")
    check(sorted(image_dirs()) == sorted([FW_ID[7:], Q_ID[7:]]), f"dirs {image_dirs()}")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_image_status():
    for name in [FW, FW_BY_DIGEST, FW_ID, FW_ID[7:19], FW_ID[7:]]:
        img = status(name).image
        check(img.id == FW_ID, f"ImageStatus {name}: {img.id!r}")
    img = status(FW, verbose=True)
    check(list(img.image.repo_tags) == [FW], f"repo_tags {list(img.image.repo_tags)}")
    check(img.image.size > os.path.getsize(RAW_DISK) // 4, f"size {img.image.size}")
    check(img.image.spec.image == FW_ID, f"spec {img.image.spec}")
    check(not img.image.pinned, "pinned")
    info = json.loads(img.info["info"])
    check(info["kernel"] == "rootfs/boot/vmlinuz" and info["cmdline"] == CMDLINE, f"info {info}")
    missing = status(f"{REG.host}/kvmlet/nope:v1")
    check(not missing.HasField("image"), f"missing image: {missing}")
    check(not status("sha256:" + "0" * 64).HasField("image"), "missing id")


def test_list_images():
    ids = sorted(i.id for i in AG.c.image("ListImages").images)
    check(ids == sorted([FW_ID, Q_ID]), f"ListImages {ids}")
    f = AG.c.image("ListImages", API.ListImagesRequest(filter=API.ImageFilter(image=spec(QC))))
    check([i.id for i in f.images] == [Q_ID], f"filtered {f.images}")
    f = AG.c.image("ListImages",
                   API.ListImagesRequest(filter=API.ImageFilter(image=spec(REG.host + "/x:y"))))
    check(len(f.images) == 0, "filter on a missing image")


def test_remove_image():
    AG.c.image("RemoveImage", API.RemoveImageRequest(image=spec(QC)))
    check(not status(QC).HasField("image"), "still there after RemoveImage")
    check(not status(Q_ID).HasField("image"), "id still there after RemoveImage")
    check(Q_ID[7:] not in image_dirs(), f"the image directory stayed: {image_dirs()}")
    # Missing: not an error, as containerd.
    AG.c.image("RemoveImage", API.RemoveImageRequest(image=spec(QC)))
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_concurrent_pulls():
    """Four pulls of an image not in the store: each missing blob fetched once."""
    with open(os.path.join(Q_LAYOUT, "blobs", "sha256", Q_MANIFEST[7:])) as f:
        m = json.load(f)
    have = set(os.listdir(os.path.join(STORE, "blobs", "sha256")))
    blobs = sum(d["size"] for d in [m["config"], *m["layers"]] if d["digest"][7:] not in have)
    check(blobs > 0, "every blob of the removed image is still in the store")
    before = metric("kvmlet_agent_image_pull_bytes_total") or 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        ids = list(ex.map(lambda _: pull(QC, good_auth()), range(4)))
    check(ids == [Q_ID] * 4, f"ids {ids}")
    got = metric("kvmlet_agent_image_pull_bytes_total") - before
    check(got == blobs, f"{got} bytes fetched for {blobs} bytes of blobs")
    check(image_dirs().count(Q_ID[7:]) == 1, f"dirs {image_dirs()}")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_registry_killed():
    failures = metric("kvmlet_agent_image_pulls_total", '{result="error"}') or 0
    code, msg = AG.c.code_of(pull, f"{PROXY.host}/kvmlet/big:v1", good_auth())
    check(PROXY.cut.is_set(), f"the blob was never cut: {code} {msg}")
    check(code != SC.OK, "a pull from a killed registry succeeded")
    check(BIG_ID[7:] not in image_dirs(), f"half an image: {image_dirs()}")
    check(leftovers() == [], f"leftovers {leftovers()}")
    check(metric("kvmlet_agent_image_pulls_total", '{result="error"}') > failures,
          "failure not counted")
    REG.start()
    check(pull(f"{REG.host}/kvmlet/big:v1", good_auth()) == BIG_ID, "pull after restart")
    with open(os.path.join(image_dir(BIG_ID), "rootfs", "disk", "big.img"), "rb") as a, \
            open(BIG_DISK, "rb") as b:
        check(a.read() == b.read(), "the big disk differs")
    check(leftovers() == [], f"leftovers {leftovers()}")


def test_restart():
    global AG
    before = sorted(i.id for i in AG.c.image("ListImages").images)
    AG.stop()
    AG = Agent()
    after = sorted(i.id for i in AG.c.image("ListImages").images)
    check(after == before and FW_ID in after, f"after a restart: {before} -> {after}")
    check(status(FW).image.id == FW_ID, "tag lost across a restart")
    check(metric("kvmlet_agent_image_store_bytes") > 0, "no store size metric")


try:
    main([test_image_fs_info, test_pull_auth, test_pull_by_tag, test_pull_by_digest,
          test_pull_from_index, test_pull_qcow2, test_qcow2_backing_file_refused, test_image_status, test_list_images, test_remove_image,
          test_concurrent_pulls, test_registry_killed, test_restart])
finally:
    PROXY.close()
    if AG.p.poll() is None:
        AG.p.kill()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The control API against Firecracker's published description: every
endpoint kvmlet-vmm serves is called through curl with a body generated from
firecracker_api.json (our extract of Firecracker's swagger); statuses must be
documented ones, 204s empty, errors Firecracker's {"fault_message"} and GET
bodies valid instances of their definitions. Then every body definition is
sent with each required field dropped and each property of the wrong type:
all 400. The guest is the test firmware's counter, so "the VM runs" is seen
on its serial output, never assumed."""
import json
import os
import re
import shutil
import tempfile

from apiclient import (Vmm, check_documented, check_error, curl_request, example, firmware_has,
                       load_api, resolve, validate, wrong_value)
from harness import FIRMWARE, Failure, NetNS, check, kvm_usable, main, netns_usable, skip

API = load_api()
BOOT_ARGS = "kvmlet.test=counter kvmlet.counter_ms=50 kvmlet.counter_mib=1"
HOST_IP = "10.78.0.1"
# kvmlet's own bounds where they differ from Firecracker's swagger (docs/api.md).
KVMLET_MAX = {("MachineConfiguration", "vcpu_count"): 254}
STATE = {}  # what the snapshot test leaves for the load tests
ENV = None  # one Env for every test: a snapshot names its files and TAP
CALLED = set()  # (path key, method) of every documented operation called


def call(vm, method, path_key, body=None, path=None, what=None):
    """A request to a documented operation; its answer must be documented."""
    path = path or path_key
    CALLED.add((path_key, method.lower()))
    r = curl_request(vm.sock, method, path, body)
    return check_documented(API, path_key, method, r, what or f"{method} {path} {json.dumps(body)}")


def ok(vm, method, path_key, body=None, path=None):
    r = call(vm, method, path_key, body, path)
    want = 200 if method == "GET" else 204
    check(r.status == want, f"{method} {path or path_key} {json.dumps(body)}: expected {want}, got {r}")
    return r


def refused(vm, method, path_key, body, path=None, why=""):
    r = call(vm, method, path_key, body, path, f"{method} {path or path_key} {json.dumps(body)} ({why})")
    return check_error(API, r, 400, f"{method} {path or path_key} {json.dumps(body)} ({why})")


def instance_state(vm):
    return ok(vm, "GET", "/").json()["state"]


class Env:
    """Files and devices a VM's resources point at; the TAP lives in a network
    namespace the VMM runs in (when namespaces are usable)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kvmlet-apicompat-")
        self.ns = NetNS("apic", HOST_IP) if netns_usable() else None
        for name, size in (("disk0.img", 4 << 20), ("disk1.img", 4 << 20)):
            with open(self.path(name), "wb") as f:
                f.truncate(size)
        for name in ("log.txt", "log2.txt", "metrics.json"):
            open(self.path(name), "w").close()

    def path(self, name):
        return os.path.join(self.dir, name)

    def values(self):
        """Field values for generated bodies."""
        return {
            "kernel_image_path": FIRMWARE, "boot_args": BOOT_ARGS,
            "vcpu_count": 1, "mem_size_mib": 128,
            "drive_id": "rootfs", "is_root_device": False, "is_read_only": False,
            "path_on_host": self.path("disk0.img"),
            "iface_id": "eth0", "host_dev_name": self.ns.tap if self.ns else "kvmlet-no-tap",
            "guest_mac": "52:54:00:12:34:57",
            "guest_cid": 3, "uds_path": self.path("vsock.sock"),
            "log_path": self.path("log.txt"), "level": "Info",
            "metrics_path": self.path("metrics.json"),
            "refill_time": 1000, "size": 1 << 20,
            "action_type": "FlushMetrics", "state": "Paused",
            "mem_file_path": self.path("snap.mem"), "snapshot_path": self.path("snap.state"),
            "backend_type": "File", "backend_path": self.path("snap.mem"),
        }

    def __enter__(self):
        if self.ns:
            self.ns.__enter__()
        return self

    def __exit__(self, *exc):
        if self.ns:
            self.ns.__exit__(*exc)

    def vmm(self):
        # A VMM that was killed leaves its vsock socket behind; binding it again would fail.
        if os.path.exists(self.path("vsock.sock")):
            os.unlink(self.path("vsock.sock"))
        return Vmm(prefix=self.ns.prefix if self.ns else ())


def body_for(env, defname, optional=(), **over):
    v = env.values()
    v.update(over)
    return example(API, defname, v, optional)


# The body each pre-boot resource is configured with in the positive flow.
PREBOOT = [
    ("/metrics", "/metrics", "Metrics", ()),
    ("/machine-config", "/machine-config", "MachineConfiguration", ()),
    ("/boot-source", "/boot-source", "BootSource", ("boot_args",)),
    ("/drives/{drive_id}", "/drives/rootfs", "Drive", ("path_on_host", "is_read_only")),
    ("/network-interfaces/{iface_id}", "/network-interfaces/eth0", "NetworkInterface", ("guest_mac",)),
    ("/vsock", "/vsock", "Vsock", ()),
    ("/entropy", "/entropy", "EntropyDevice", ()),
]


def configure(env, vm):
    for key, path, defname, optional in PREBOOT:
        if defname == "NetworkInterface" and not env.ns:
            continue
        ok(vm, "PUT", key, body_for(env, defname, optional), path)


def check_machine_config(vm, vcpus, mem):
    mc = ok(vm, "GET", "/machine-config").json()
    check(mc["vcpu_count"] == vcpus and mc["mem_size_mib"] == mem,
          f"GET /machine-config: expected {vcpus} vCPUs, {mem} MiB: {mc}")


def check_vm_config(env, vm):
    cfg = ok(vm, "GET", "/vm/config").json()
    bs = cfg.get("boot-source") or {}
    check(bs.get("kernel_image_path") == FIRMWARE and bs.get("boot_args") == BOOT_ARGS,
          f"GET /vm/config: boot-source is not what was put: {bs}")
    drives = cfg.get("drives") or []
    check([d.get("drive_id") for d in drives] == ["rootfs"], f"GET /vm/config drives: {drives}")
    check(drives[0].get("path_on_host") == env.path("disk0.img"), f"drive path: {drives[0]}")
    mc = cfg.get("machine-config") or {}
    check(mc.get("vcpu_count") == 1 and mc.get("mem_size_mib") == 128, f"machine-config: {mc}")
    check((cfg.get("vsock") or {}).get("guest_cid") == 3, f"vsock: {cfg.get('vsock')}")
    check(cfg.get("entropy") is not None, f"entropy device missing from {cfg}")
    if env.ns:
        nets = cfg.get("network-interfaces") or []
        check([n.get("iface_id") for n in nets] == ["eth0"]
              and nets[0].get("host_dev_name") == env.ns.tap, f"network-interfaces: {nets}")
    return cfg


PROM_LINE = re.compile(r"^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|"
                       r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|NaN|[+-]Inf)$")


def check_prometheus(vm):
    """kvmlet's GET /metrics: Prometheus text exposition."""
    r = curl_request(vm.sock, "GET", "/metrics")
    check(r.status == 200, f"GET /metrics: expected 200, got {r}")
    check(r.headers.get("content-type", "").startswith("text/plain"),
          f"GET /metrics: Content-Type {r.headers.get('content-type')!r}, expected text/plain")
    lines = [l for l in r.body.split("\n") if l]
    check(lines, "GET /metrics: empty body")
    bad = [l for l in lines if not PROM_LINE.match(l)]
    check(not bad, f"GET /metrics: lines not in Prometheus text format: {bad[:5]}")
    check(any(not l.startswith("#") for l in lines), "GET /metrics: no samples")


def test_every_endpoint():
    env = ENV
    with env.vmm() as vm:
        if not env.ns:
            print("     no network namespace: PUT /network-interfaces is not exercised")
        info = ok(vm, "GET", "/").json()
        check(info["state"] == "Not started", f"GET / before boot: {info}")
        check_machine_config(vm, 1, 128)  # Firecracker's documented defaults
        configure(env, vm)
        check_machine_config(vm, 1, 128)
        check_vm_config(env, vm)
        check(instance_state(vm) == "Not started", "state changed before InstanceStart")

        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 3\n")
        check(instance_state(vm) == "Running", "state after InstanceStart")
        check_vm_config(env, vm)
        check_machine_config(vm, 1, 128)
        check_prometheus(vm)

        ok(vm, "PATCH", "/drives/{drive_id}",
           body_for(env, "PartialDrive", ("path_on_host",), path_on_host=env.path("disk1.img")),
           "/drives/rootfs")
        cfg = ok(vm, "GET", "/vm/config").json()
        check(cfg["drives"][0].get("path_on_host") == env.path("disk1.img"),
              f"PATCH /drives did not change path_on_host: {cfg['drives']}")

        ok(vm, "PUT", "/actions", {"action_type": "FlushMetrics"})
        check(os.path.getsize(env.path("metrics.json")) > 0, "FlushMetrics wrote nothing")

        # Pause, snapshot, resume: the guest must go on counting afterwards.
        ok(vm, "PATCH", "/vm", {"state": "Paused"})
        check(instance_state(vm) == "Paused", "state after PATCH /vm Paused")
        at_pause = vm.last_counter()
        ok(vm, "PUT", "/snapshot/create", body_for(env, "SnapshotCreateParams", ("snapshot_type",)))
        for f in ("snap.mem", "snap.state"):
            check(os.path.getsize(env.path(f)) > 0, f"snapshot file {f} is empty")
        # A line printed just before the pause may still be on its way.
        check(vm.last_counter() <= at_pause + 1, f"guest counted while paused: {at_pause} -> "
              f"{vm.last_counter()}")
        snap_dir = tempfile.mkdtemp(prefix="kvmlet-apisnap-")
        for f in ("snap.mem", "snap.state"):
            shutil.copy(env.path(f), os.path.join(snap_dir, f))
        STATE.update(snap_dir=snap_dir, counter=vm.last_counter())
        ok(vm, "PATCH", "/vm", {"state": "Resumed"})
        check(instance_state(vm) == "Running", "state after PATCH /vm Resumed")
        vm.counter_advances()

        ok(vm, "PUT", "/actions", {"action_type": "SendCtrlAltDel"})
        check(vm.running(), "the VMM ended after SendCtrlAltDel to a guest without a keyboard driver")

        # Pre-boot resources and a second start are refused once running.
        for key, path, defname, optional in PREBOOT:
            refused(vm, "PUT", key, body_for(env, defname, optional), path, "pre-boot only")
        refused(vm, "PUT", "/snapshot/load", body_for(env, "SnapshotLoadParams", ("mem_backend",)),
                why="load needs a fresh VMM")
        refused(vm, "PUT", "/actions", {"action_type": "InstanceStart"}, why="second InstanceStart")
        vm.counter_advances()
        check(instance_state(vm) == "Running", "final state")


def test_post_boot_calls_refused_before_boot():
    env = ENV
    with env.vmm() as vm:
        configure(env, vm)
        refused(vm, "PATCH", "/vm", {"state": "Paused"}, why="not started")
        refused(vm, "PATCH", "/vm", {"state": "Resumed"}, why="not started")
        refused(vm, "PUT", "/snapshot/create", body_for(env, "SnapshotCreateParams"), why="not started")
        refused(vm, "PUT", "/actions", {"action_type": "SendCtrlAltDel"}, why="not started")
        refused(vm, "PATCH", "/network-interfaces/{iface_id}", {"iface_id": "eth0"},
                "/network-interfaces/eth0", "PATCH /network-interfaces is post-boot only")
        refused(vm, "PATCH", "/drives/{drive_id}",
                body_for(env, "PartialDrive", ("path_on_host",), path_on_host=env.path("disk1.img")),
                "/drives/rootfs", "PATCH /drives is post-boot only")
        refused(vm, "PATCH", "/drives/{drive_id}", body_for(env, "PartialDrive"), "/drives/rootfs",
                "PATCH /drives is post-boot only, even without path_on_host")
        check(instance_state(vm) == "Not started", "state changed")


def test_failed_start_can_be_retried():
    """A start that fails (here: the kernel file is missing, which kvmlet
    finds only at start) leaves the VM Not started; a corrected boot source
    then starts it, with the corrected boot_args."""
    env = ENV
    with env.vmm() as vm:
        missing = env.path("no-such-kernel")
        r = call(vm, "PUT", "/boot-source", {"kernel_image_path": missing})
        if r.status == 204:
            refused(vm, "PUT", "/actions", {"action_type": "InstanceStart"}, why="kernel file missing")
        check(instance_state(vm) == "Not started", "state after a failed start")
        configure(env, vm)
        bs = ok(vm, "GET", "/vm/config").json()["boot-source"]
        check(bs.get("boot_args") == BOOT_ARGS, f"boot-source after a failed start: {bs}")
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n", timeout=15)


def test_logger():
    """PUT /logger with a file: the VMM's log goes there (checked after boot).
    A second PUT reconfigures it, as Firecracker's does: the log moves to the
    new file, at the new level, and the first file gets nothing more."""
    env = ENV
    with env.vmm() as vm:
        log, log2 = env.path("log.txt"), env.path("log2.txt")
        open(log, "w").close()
        body = body_for(env, "Logger", ("log_path", "level"))
        try:
            ok(vm, "PUT", "/logger", body)
        except Failure as e:
            alive = vm.running(grace=2)
            raise Failure(f"PUT /logger {json.dumps(body)}: {e}" +
                          ("" if alive else f" (the VMM died: exit status {vm.proc.returncode})"))
        ok(vm, "PUT", "/logger", {"log_path": log2, "level": "Warning"})
        first_size = os.path.getsize(log)
        configure(env, vm)
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")
        # A refusal is logged as a warning, when it is answered.
        refused(vm, "PUT", "/boot-source", body_for(env, "BootSource"), why="after boot")
        with open(log2) as f:
            text = f.read()
        check("API: 400" in text, f"the warning did not reach the second log_path: {text!r}")
        check("VM started" not in text, f"an Info line passed the Warning level: {text!r}")
        check(os.path.getsize(log) == first_size, "the first log_path was written after the second PUT")
        check(vm.running(), "the VMM ended")


def test_logger_reconfigured_before_boot_only():
    """Firecracker takes the logger before boot, as often as it is sent; a
    path that cannot be opened is refused and leaves the logger as it was."""
    env = ENV
    with env.vmm() as vm:
        ok(vm, "PUT", "/logger", {"level": "Debug"})
        ok(vm, "PUT", "/logger", {"level": "Info"})
        refused(vm, "PUT", "/logger", {"log_path": os.path.join(env.path("missing-dir"), "log")},
                why="log_path in a missing directory")
        refused(vm, "PATCH", "/vm", {"state": "Paused"}, why="not started")
        check("API: 400" in vm.stderr(), "a refused call is no longer logged to stderr")
        configure(env, vm)
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")
        refused(vm, "PUT", "/logger", {"level": "Info"}, why="after boot")


def test_empty_patch_refused():
    """Firecracker: PATCH /machine-config that names no field is 400 "Empty
    PATCH request." (null fields are absent), before boot and after."""
    env = ENV
    with env.vmm() as vm:
        ok(vm, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        for body in ({}, {"vcpu_count": None}):
            msg = refused(vm, "PATCH", "/machine-config", body, why="empty PATCH")
            check(msg == "Empty PATCH request.", f"PATCH /machine-config {body}: {msg!r}")
        # null keeps the current value beside a field that changes.
        ok(vm, "PATCH", "/machine-config", {"vcpu_count": None, "mem_size_mib": 128})
        check_machine_config(vm, 2, 128)
        ok(vm, "PUT", "/machine-config", body_for(env, "MachineConfiguration"))
        configure(env, vm)
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")
        msg = refused(vm, "PATCH", "/machine-config", {}, why="empty PATCH after boot")
        check(msg == "Empty PATCH request.", f"PATCH /machine-config {{}} after boot: {msg!r}")


def test_flush_metrics_before_boot_refused():
    """Firecracker refuses FlushMetrics before boot, metrics file or not."""
    env = ENV
    with env.vmm() as vm:
        for configured in (False, True):
            if configured:
                configure(env, vm)  # PUT /metrics among them
            msg = refused(vm, "PUT", "/actions", {"action_type": "FlushMetrics"}, why="not started")
            check(msg == "The requested operation is not supported before starting the microVM.",
                  f"FlushMetrics before boot: {msg!r}")
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")
        ok(vm, "PUT", "/actions", {"action_type": "FlushMetrics"})


def negative_bodies(defname, base):
    """(description, body) pairs that must all be refused with 400: each
    required field dropped, each property (nested ones too) of the wrong type,
    each enum property out of its enum, each bound crossed."""
    out = []
    schema = API["definitions"][defname]
    for name in schema.get("required", []):
        out.append((f"{defname} without required {name}", {k: v for k, v in base.items() if k != name}))
    for name, prop in schema.get("properties", {}).items():
        out.append((f"{defname}.{name} of the wrong type", {**base, name: wrong_value(API, prop)}))
        target = resolve(API, prop)
        if "enum" in target:
            out.append((f"{defname}.{name} outside its enum", {**base, name: "NoSuchValue"}))
        if "minimum" in target:
            out.append((f"{defname}.{name} below minimum", {**base, name: target["minimum"] - 1}))
        top = KVMLET_MAX.get((defname, name), target.get("maximum"))
        if top is not None:
            out.append((f"{defname}.{name} above maximum {top}", {**base, name: top + 1}))
        if target.get("type") == "object" and name in base and isinstance(base[name], dict):
            sub = prop["$ref"].rsplit("/", 1)[1]
            out += [(f"{defname}.{name}: {d}", {**base, name: b})
                    for d, b in negative_bodies(sub, base[name])]
    return out


def rate_limiter():
    return {"bandwidth": {"size": 1 << 20, "refill_time": 1000},
            "ops": {"size": 100, "refill_time": 1000}}


# Firecracker's "no limit": no buckets, or buckets of size or refill_time 0.
NO_LIMIT = [
    {"bandwidth": {"size": 0, "refill_time": 0}, "ops": {"size": 0, "refill_time": 0}},
    {"bandwidth": {"size": 1 << 20, "refill_time": 0}, "ops": {"size": 0, "one_time_burst": 5,
                                                                "refill_time": 100}},
    {"bandwidth": None, "ops": None},
    {},
]
LIMITS = [
    ("a bandwidth limit", {"bandwidth": {"size": 1 << 20, "refill_time": 100}}),
    ("an ops limit", {"bandwidth": {"size": 0, "refill_time": 0},
                      "ops": {"size": 100, "refill_time": 1000}}),
]


def check_refusals(env, vm, method, key, path, defname, base):
    for what, body in negative_bodies(defname, base):
        refused(vm, method, key, body, path, what)


def test_preboot_bodies_are_checked():
    env = ENV
    with env.vmm() as vm:
        for key, path, defname, optional in PREBOOT + [("/logger", "/logger", "Logger", ("log_path",))]:
            base = body_for(env, defname, optional)
            check_refusals(env, vm, "PUT", key, path, defname, base)
        refused(vm, "PUT", "/actions", {}, why="InstanceActionInfo without action_type")
        refused(vm, "PUT", "/actions", {"action_type": 1}, why="action_type of the wrong type")
        refused(vm, "PUT", "/actions", {"action_type": "NoSuchAction"}, why="action_type outside its enum")
        # Nothing above may have been half-applied: the defaults still hold.
        check_machine_config(vm, 1, 128)
        check(instance_state(vm) == "Not started", "a refused body changed the state")


def test_rate_limiters_are_checked():
    """Nested definitions (RateLimiter, TokenBucket) of a drive and an
    entropy device: a missing or mistyped nested field is a 400 too. A
    limiter that limits something is refused as unsupported (docs/api.md:
    kvmlet has no rate limiters); one that limits nothing (no buckets, or
    Firecracker's buckets of size or refill_time 0) is served, on drives,
    network interfaces and the entropy device."""
    env = ENV
    with env.vmm() as vm:
        drive = body_for(env, "Drive", ("path_on_host", "is_read_only", "rate_limiter"),
                         rate_limiter=rate_limiter())
        r = call(vm, "PUT", "/drives/{drive_id}", drive, "/drives/rootfs")
        if r.status != 204:
            msg = check_error(API, r, 400, "PUT /drives with a rate limiter")
            check("not supported" in msg, f"a valid rate limiter refused for another reason: {msg}")
        ok(vm, "PUT", "/entropy", {"rate_limiter": {}})
        ok(vm, "PUT", "/drives/{drive_id}", {**drive, "rate_limiter": {}}, "/drives/rootfs")
        for limiter in NO_LIMIT:
            ok(vm, "PUT", "/entropy", {"rate_limiter": limiter})
            ok(vm, "PUT", "/drives/{drive_id}", {**drive, "rate_limiter": limiter}, "/drives/rootfs")
            if env.ns:
                net = body_for(env, "NetworkInterface", ("guest_mac",))
                ok(vm, "PUT", "/network-interfaces/{iface_id}",
                   {**net, "rx_rate_limiter": limiter, "tx_rate_limiter": limiter},
                   "/network-interfaces/eth0")
        for what, limiter in LIMITS:
            for target, path, body in (
                    ("/entropy", "/entropy", {"rate_limiter": limiter}),
                    ("/drives/{drive_id}", "/drives/rootfs", {**drive, "rate_limiter": limiter})):
                msg = refused(vm, "PUT", target, body, path, what)
                check("not supported" in msg, f"PUT {path} ({what}): {msg!r}")
        check(ok(vm, "GET", "/vm/config").json()["drives"][0].get("path_on_host") ==
              drive["path_on_host"], "the drive was lost")
        check_refusals(env, vm, "PUT", "/drives/{drive_id}", "/drives/rootfs", "Drive", drive)
        check_refusals(env, vm, "PUT", "/entropy", "/entropy", "EntropyDevice",
                       {"rate_limiter": rate_limiter()})


def test_put_again_updates():
    """A second PUT of a pre-boot resource updates it (Firecracker's swagger:
    "Creates ... if one does not already exist, otherwise updates it");
    PATCH /machine-config changes only what it names."""
    env = ENV
    with env.vmm() as vm:
        configure(env, vm)
        ok(vm, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        check_machine_config(vm, 2, 256)
        ok(vm, "PATCH", "/machine-config", {"vcpu_count": 1})
        check_machine_config(vm, 1, 256)
        ok(vm, "PATCH", "/machine-config", {"mem_size_mib": 128})
        check_machine_config(vm, 1, 128)
        ok(vm, "PUT", "/boot-source", {"kernel_image_path": FIRMWARE, "boot_args": "other"})
        check(ok(vm, "GET", "/vm/config").json()["boot-source"].get("boot_args") == "other",
              "second PUT /boot-source not applied")
        ok(vm, "PUT", "/boot-source", body_for(env, "BootSource", ("boot_args",)))
        ok(vm, "PUT", "/drives/{drive_id}",
           body_for(env, "Drive", ("path_on_host", "is_read_only"), is_read_only=True), "/drives/rootfs")
        drives = ok(vm, "GET", "/vm/config").json()["drives"]
        check(len(drives) == 1 and drives[0]["is_read_only"] is True,
              f"second PUT /drives/rootfs not applied: {drives}")
        ok(vm, "PUT", "/drives/{drive_id}", body_for(env, "Drive", ("path_on_host", "is_read_only")),
           "/drives/rootfs")
        ok(vm, "PUT", "/entropy", {})
        check_vm_config(env, vm)
        # The resulting configuration boots.
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")


def test_put_vsock_again_updates():
    """Firecracker's swagger: "Subsequent calls will update the device configuration"."""
    env = ENV
    with env.vmm() as vm:
        ok(vm, "PUT", "/vsock", body_for(env, "Vsock"))
        ok(vm, "PUT", "/vsock", body_for(env, "Vsock", guest_cid=4))
        check(ok(vm, "GET", "/vm/config").json()["vsock"]["guest_cid"] == 4,
              "second PUT /vsock not applied")


def test_post_boot_bodies_are_checked():
    env = ENV
    with env.vmm() as vm:
        configure(env, vm)
        ok(vm, "PUT", "/actions", {"action_type": "InstanceStart"})
        vm.wait_for(r"(?m)^counter 2\n")
        check_refusals(env, vm, "PATCH", "/drives/{drive_id}", "/drives/rootfs", "PartialDrive",
                       body_for(env, "PartialDrive", ("path_on_host",),
                                path_on_host=env.path("disk1.img")))
        for limiter in NO_LIMIT:
            ok(vm, "PATCH", "/drives/{drive_id}", {"drive_id": "rootfs", "rate_limiter": limiter},
               "/drives/rootfs")
        for what, limiter in LIMITS:
            msg = refused(vm, "PATCH", "/drives/{drive_id}",
                          {"drive_id": "rootfs", "rate_limiter": limiter}, "/drives/rootfs", what)
            check("not supported" in msg, f"PATCH /drives/rootfs ({what}): {msg!r}")
        # Firecracker's rate limiter update of an interface: only "no limit" is served.
        net = "/network-interfaces/{iface_id}"
        if env.ns:
            for limiter in NO_LIMIT:
                ok(vm, "PATCH", net, {"iface_id": "eth0", "rx_rate_limiter": limiter,
                                      "tx_rate_limiter": limiter}, "/network-interfaces/eth0")
            ok(vm, "PATCH", net, {"iface_id": "eth0"}, "/network-interfaces/eth0")
            for what, limiter in LIMITS:
                msg = refused(vm, "PATCH", net, {"iface_id": "eth0", "tx_rate_limiter": limiter},
                              "/network-interfaces/eth0", what)
                check("not supported" in msg, f"PATCH /network-interfaces/eth0 ({what}): {msg!r}")
            check_refusals(env, vm, "PATCH", net, "/network-interfaces/eth0",
                           "PartialNetworkInterface", {"iface_id": "eth0"})
        msg = refused(vm, "PATCH", net, {"iface_id": "eth9"}, "/network-interfaces/eth9",
                      "no such interface")
        check("does not exist" in msg, f"PATCH /network-interfaces/eth9: {msg!r}")
        check_refusals(env, vm, "PATCH", "/vm", "/vm", "Vm", {"state": "Paused"})
        check(instance_state(vm) == "Running", "a refused PATCH /vm changed the state")
        ok(vm, "PATCH", "/vm", {"state": "Paused"})
        check_refusals(env, vm, "PUT", "/snapshot/create", "/snapshot/create", "SnapshotCreateParams",
                       body_for(env, "SnapshotCreateParams"))
        ok(vm, "PATCH", "/vm", {"state": "Resumed"})
        vm.counter_advances()


def snapshot_load_body(**over):
    snap = STATE["snap_dir"]
    return body_for(ENV, "SnapshotLoadParams", ("mem_backend",) + tuple(over),
                    snapshot_path=os.path.join(snap, "snap.state"),
                    backend_path=os.path.join(snap, "snap.mem"), **over)


def test_snapshot_load_refused_after_configuring():
    """Firecracker's swagger: only accepted on a fresh process, before
    configuring any resource other than the logger and metrics."""
    check("snap_dir" in STATE, "no snapshot from test_every_endpoint to load")
    with ENV.vmm() as vm:
        ok(vm, "PUT", "/metrics", body_for(ENV, "Metrics"))
        ok(vm, "PUT", "/machine-config", body_for(ENV, "MachineConfiguration"))
        refused(vm, "PUT", "/snapshot/load", snapshot_load_body(),
                why="load after configuring a resource")


def test_snapshot_load_bodies_are_checked():
    check("snap_dir" in STATE, "no snapshot from test_every_endpoint to load")
    with ENV.vmm() as vm:
        base = snapshot_load_body()
        check_refusals(ENV, vm, "PUT", "/snapshot/load", "/snapshot/load", "SnapshotLoadParams", base)
        refused(vm, "PUT", "/snapshot/load", {"snapshot_path": base["snapshot_path"]},
                why="neither mem_file_path nor mem_backend")
        refused(vm, "PUT", "/snapshot/load",
                {**base, "mem_file_path": base["mem_backend"]["backend_path"]},
                why="both mem_file_path and mem_backend")
        check(instance_state(vm) == "Not started", "a refused load changed the state")


def test_snapshot_load_resumes_the_guest():
    check("snap_dir" in STATE, "no snapshot from test_every_endpoint to load")
    with ENV.vmm() as vm:
        body = snapshot_load_body(resume_vm=True)
        r = call(vm, "PUT", "/snapshot/load", body)
        check(r.status == 204, f"PUT /snapshot/load {json.dumps(body)}: expected 204, got {r} "
              f"(stderr: {vm.stderr()[-1000:]})")
        check(instance_state(vm) == "Running", "state after loading with resume_vm")
        # The guest goes on from the count it had when the snapshot was taken.
        n = STATE["counter"]
        m = vm.wait_for(r"(?m)^counter (\d+)\n")
        check(int(m.group(1)) in (n, n + 1, n + 2),
              f"restored guest counted from {m.group(1)}, snapshot was taken at {n}")
        vm.counter_advances()
        cfg = ok(vm, "GET", "/vm/config").json()
        check(validate(API, {"$ref": "#/definitions/FullVmConfiguration"}, cfg) == [], "vm/config")


def test_every_operation_was_called():
    ops = {(p, m) for p, methods in API["paths"].items() for m in methods}
    missed = sorted(ops - CALLED)
    check(not missed, f"operations of firecracker_api.json no test called: {missed}")


if __name__ == "__main__":
    if not kvm_usable():
        skip("/dev/kvm is not usable here")
    if not firmware_has("counter_ms"):
        skip("the test firmware has no counter test")
    try:
        with Env() as ENV:
            main([test_every_endpoint, test_post_boot_calls_refused_before_boot, test_logger,
                  test_logger_reconfigured_before_boot_only, test_empty_patch_refused,
                  test_flush_metrics_before_boot_refused,
                  test_failed_start_can_be_retried,
                  test_preboot_bodies_are_checked, test_rate_limiters_are_checked,
                  test_put_again_updates, test_put_vsock_again_updates,
                  test_post_boot_bodies_are_checked, test_snapshot_load_refused_after_configuring,
                  test_snapshot_load_bodies_are_checked,
                  test_snapshot_load_resumes_the_guest, test_every_operation_was_called])
    finally:
        if ENV:
            shutil.rmtree(ENV.dir, ignore_errors=True)
        if "snap_dir" in STATE:
            shutil.rmtree(STATE["snap_dir"], ignore_errors=True)

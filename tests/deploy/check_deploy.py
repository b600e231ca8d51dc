#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/runtimeclass.yaml and deploy/kvmlet-agent.service against what
kubelet, the scheduler and systemd rely on (docs/kubernetes.md):

- the RuntimeClass: node.k8s.io/v1, name and handler `kvmlet` (a DNS label:
  kubelet passes it as runtime_handler), overhead.podFixed memory and cpu
  as Kubernetes quantities, the memory at least the per-VM host memory
  beyond guest RAM that docs/benchmarks.md reports, the node selector
  kvmlet.io/node: "true" (a string: a YAML true would be refused);
- the unit: KillMode=process (VMs outlive an agent restart),
  Restart=always, ordered Before kubelet.service, ExecStart running
  kvmlet-agent on unix:///run/kvmlet/kvmlet.sock.

usage: check_deploy.py SOURCE_DIR"""
import configparser
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "."
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def quantity(q):
    """A Kubernetes resource quantity in base units (bytes, cores)."""
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?", str(q))
    if not m:
        raise ValueError(f"not a quantity: {q!r}")
    mult = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3,
            "M": 1e6, "G": 1e9, "T": 1e12, "m": 1e-3}[m.group(2)]
    return float(m.group(1)) * mult


def measured_overhead_mib():
    """The per-VM figure docs/benchmarks.md reports from bench/pod, if any."""
    try:
        with open(os.path.join(SRC, "docs", "benchmarks.md")) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"host memory per VM beyond guest RAM, VMM \+ shim \(max\) \|\s*([0-9.]+) MiB",
                  text)
    return float(m.group(1)) if m else None


def runtime_class():
    try:
        import yaml
    except ImportError:
        print("SKIPPED: python3-yaml is needed (scripts/install-deps)")
        sys.exit(77)
    with open(os.path.join(SRC, "deploy", "runtimeclass.yaml")) as f:
        docs = list(yaml.safe_load_all(f))
    check(len(docs) == 1, f"runtimeclass.yaml: {len(docs)} documents")
    rc = docs[0]
    check(rc.get("apiVersion") == "node.k8s.io/v1", f"apiVersion {rc.get('apiVersion')!r}")
    check(rc.get("kind") == "RuntimeClass", f"kind {rc.get('kind')!r}")
    check(rc.get("metadata", {}).get("name") == "kvmlet", "metadata.name is not kvmlet")
    handler = rc.get("handler")
    check(handler == "kvmlet" and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", handler or ""),
          f"handler {handler!r}")
    fixed = rc.get("overhead", {}).get("podFixed", {})
    check(set(fixed) == {"memory", "cpu"}, f"overhead.podFixed keys {sorted(fixed)}")
    try:
        mem, cpu = quantity(fixed.get("memory")), quantity(fixed.get("cpu"))
        check(0 < cpu <= 1, f"podFixed cpu {cpu}")
        measured = measured_overhead_mib()
        floor = measured if measured is not None else 1.93  # bench/boot's VMM figure
        check(mem >= floor * 2**20, f"podFixed memory {mem / 2**20:.2f} MiB is below the "
              f"measured {floor} MiB per VM")
    except ValueError as e:
        check(False, str(e))
    sel = rc.get("scheduling", {}).get("nodeSelector", {})
    check(sel == {"kvmlet.io/node": "true"}, f"scheduling.nodeSelector {sel!r}")


def unit():
    cp = configparser.ConfigParser(strict=True, interpolation=None)
    cp.optionxform = str
    with open(os.path.join(SRC, "deploy", "kvmlet-agent.service")) as f:
        cp.read_file(f)
    check(set(cp.sections()) == {"Unit", "Service", "Install"}, f"sections {cp.sections()}")
    s = cp["Service"]
    check(s.get("KillMode") == "process", f"KillMode={s.get('KillMode')}")
    check(s.get("Restart") == "always", f"Restart={s.get('Restart')}")
    check("kubelet.service" in cp["Unit"].get("Before", "").split(), "not Before=kubelet.service")
    start = s.get("ExecStart", "").replace("\\\n", " ").split()
    check(start and os.path.basename(start[0]) == "kvmlet-agent", f"ExecStart {start}")
    check("unix:///run/kvmlet/kvmlet.sock" in start, "ExecStart: not the documented socket")
    check(cp["Install"].get("WantedBy") == "multi-user.target", "WantedBy")


runtime_class()
unit()
for f in failures:
    print(f"FAIL {f}")
print("deploy manifests: " + ("ok" if not failures else f"{len(failures)} problems"))
sys.exit(1 if failures else 0)

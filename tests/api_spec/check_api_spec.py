#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/api/kvmlet.yaml against the route table (vmm/api/routes.c), both
ways: every (method, path) the table serves is an operation of the spec, and
every operation of the spec is served. A spec path template ending in one
{parameter} ("/drives/{drive_id}") is the table's prefix form ("/drives/").
Also checks that the spec holds together: it is swagger 2.0, every $ref
names a definition or parameter, every operation answers something, and
every {parameter} of a path is declared as a path parameter.

With Firecracker's description (tests/integration/lib/firecracker_api.json),
also checks the tags: an operation tagged "firecracker" is one of
Firecracker's, one tagged "kvmlet" is not, and a definition Firecracker also
has lists no field Firecracker lacks (but for KVMLET_EXTRA_FIELDS).

Usage: check_api_spec.py ROUTES_DUMP SPEC.yaml [FIRECRACKER.json]
"""
import json
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "patch", "post", "delete", "head", "options")
TEMPLATE = re.compile(r"^(/(?:[^{}/]+/)+)\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def table_form(path):
    """The route table's form of a spec path, or None if it has none."""
    if "{" not in path:
        return path
    m = TEMPLATE.match(path)
    return m.group(1) if m else None


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def check_spec(spec, problems):
    if spec.get("swagger") != "2.0":
        problems.append(f"swagger is {spec.get('swagger')!r}, expected \"2.0\"")
    for ref in set(refs(spec)):
        m = re.match(r"^#/(definitions|parameters)/([^/]+)$", ref)
        if not m or m.group(2) not in (spec.get(m.group(1)) or {}):
            problems.append(f"$ref {ref} names nothing in the spec")
    for path, ops in (spec.get("paths") or {}).items():
        if table_form(path) is None:
            problems.append(f"{path}: the route table can only serve one {{id}} at the end")
        for method, op in ops.items():
            if method not in METHODS:
                problems.append(f"{path}: {method!r} is not an HTTP method")
                continue
            if not op.get("responses"):
                problems.append(f"{method.upper()} {path}: no responses")
            declared = set()
            for p in op.get("parameters", []):
                if "$ref" in p:
                    p = spec.get("parameters", {}).get(p["$ref"].rsplit("/", 1)[1], {})
                if p.get("in") == "path":
                    declared.add(p.get("name"))
            wanted = set(re.findall(r"\{([^}]+)\}", path))
            if wanted != declared:
                problems.append(f"{method.upper()} {path}: path parameters {sorted(declared)}, "
                                f"the template names {sorted(wanted)}")


# Fields kvmlet accepts that Firecracker's current description lacks.
KVMLET_EXTRA_FIELDS = {
    ("SnapshotCreateParams", "version"): "sent by older Firecracker clients",
}


def check_against_firecracker(spec, fc, problems):
    fc_ops = {(p, m) for p, ops in fc["paths"].items() for m in ops}
    for path, ops in (spec.get("paths") or {}).items():
        for method, op in ops.items():
            tags = op.get("tags") or []
            where = f"{method.upper()} {path}"
            if tags == ["firecracker"] and (path, method) not in fc_ops:
                problems.append(f"{where} is tagged firecracker but Firecracker has no such operation")
            elif tags == ["kvmlet"] and (path, method) in fc_ops:
                problems.append(f"{where} is tagged kvmlet but is Firecracker's")
            elif tags not in (["firecracker"], ["kvmlet"]):
                problems.append(f"{where}: tags {tags}, expected [firecracker] or [kvmlet]")
    for name, schema in (spec.get("definitions") or {}).items():
        theirs = fc["definitions"].get(name)
        if not theirs:
            continue
        for field in (schema.get("properties") or {}):
            if field not in (theirs.get("properties") or {}) and \
                    (name, field) not in KVMLET_EXTRA_FIELDS:
                problems.append(f"definition {name}: field {field} is not Firecracker's")


def main(dump, spec_path, fc_path=None):
    with open(spec_path) as f:
        spec = yaml.safe_load(f)
    out = subprocess.run([dump], check=True, capture_output=True, text=True).stdout
    table = set()
    for line in out.splitlines():
        method, path = line.split(" ", 1)
        table.add((method.lower(), path))
    problems = []
    if not table:
        problems.append(f"{dump} printed no routes")
    check_spec(spec, problems)
    if fc_path:
        with open(fc_path) as f:
            check_against_firecracker(spec, json.load(f), problems)
    documented = {(m, table_form(p)): f"{m.upper()} {p}"
                  for p, ops in (spec.get("paths") or {}).items() for m in ops if m in METHODS}
    for method, path in sorted(table - documented.keys()):
        problems.append(f"{method.upper()} {path} is served (routes.c) but not in {spec_path}")
    for key in sorted(documented.keys() - table):
        problems.append(f"{documented[key]} is in {spec_path} but not served (routes.c)")
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    print(f"ok   {len(table)} routes, each one an operation of {spec_path}, and no other")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))

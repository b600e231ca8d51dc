#!/usr/bin/env python3
"""Checks that #include edges only point down the layers.

    lib -> memory -> devices -> vmm        (each may use those to its left)
    agent, controller -> lib, proto        (never the VMM's internals)

Every quoted include in a production folder is resolved (root-relative
"dir/file.h", "kvmlet/x.h" from include/, or a file beside the includer) and
its folder checked against ALLOWED. A header that cannot be found is an error
too, so a typo cannot hide an edge. Prints one line per bad edge; exit 1 if any.
"""
import os
import re
import sys

# folder -> folders its files may include from (itself always allowed)
ALLOWED = {
    "include": set(),
    "lib": set(),
    "memory": {"lib", "include"},
    "devices": {"lib", "include", "memory"},
    "vmm": {"lib", "include", "memory", "devices"},
    "jailer": {"lib", "include"},
    "guest-agent": {"lib"},
    "agent": {"lib", "proto", "include"},  # include: the VMM's exit codes
    "controller": {"lib", "proto"},
    "proto": set(),
    "firmware": {"include"},
}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(root, path):
    return os.path.relpath(path, root).split(os.sep)[0]


def resolve(root, includer, name):
    """Returns the header's path, or None when it does not exist."""
    candidates = [os.path.join(os.path.dirname(includer), name),
                  os.path.join(root, name),
                  os.path.join(root, "include", name)]
    for c in candidates:
        if os.path.isfile(c):
            return os.path.normpath(c)
    return None


def sources(root):
    for layer in ALLOWED:
        for d, _, files in os.walk(os.path.join(root, layer)):
            for f in files:
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def check(root):
    bad = []
    for src in sorted(sources(root)):
        with open(src, encoding="utf-8", errors="replace") as f:
            text = f.read()
        here = layer_of(root, src)
        for name in INCLUDE_RE.findall(text):
            target = resolve(root, src, name)
            rel = os.path.relpath(src, root)
            if target is None:
                # generated headers (protobuf-c) live in the build tree
                if here in ("agent", "controller", "proto") and name.endswith(".pb-c.h"):
                    continue
                bad.append(f"{rel}: \"{name}\" not found")
                continue
            there = layer_of(root, target)
            if there != here and there not in ALLOWED[here]:
                bad.append(f"{rel}: includes {os.path.relpath(target, root)} "
                           f"({here} -> {there} is not allowed)")
    return bad


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    bad = check(root)
    for line in bad:
        print(line)
    n = sum(1 for _ in sources(root))
    print(f"layering: {n} files checked, {len(bad)} bad include edges")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The include check must catch an upward edge and a missing header: it runs
on a scratch copy of lib/, memory/ and devices/ with each fault planted."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(root):
    return subprocess.run([sys.executable, os.path.join(HERE, "check_includes.py"), root],
                          capture_output=True, text=True)


def main():
    src = sys.argv[1]
    faults = {
        "upward": ('#include "devices/bus.h"\n', "memory -> devices is not allowed"),
        "missing": ('#include "lib/no_such_header.h"\n', "not found"),
    }
    failed = 0
    for name, (line, expect) in faults.items():
        with tempfile.TemporaryDirectory() as tmp:
            for d in ("include", "lib", "memory", "devices"):
                shutil.copytree(os.path.join(src, d), os.path.join(tmp, d))
            clean = run(tmp)
            with open(os.path.join(tmp, "memory", "guest_memory.h"), "a") as f:
                f.write(line)
            bad = run(tmp)
            ok = clean.returncode == 0 and bad.returncode == 1 and expect in bad.stdout
            print(f"{name}: clean rc={clean.returncode}, planted rc={bad.returncode}: "
                  f"{'ok' if ok else 'WRONG'}")
            if not ok:
                print(clean.stdout, bad.stdout)
                failed += 1
    print(f"{len(faults) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

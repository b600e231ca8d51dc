# SPDX-License-Identifier: Apache-2.0
"""Answer shapes for comparing two CRI runtimes: which fields are set, of
what kind, with values only where they must agree. A shape is a flat
{path: kind} dict:

- message fields: present or not (recursed into when present);
- repeated fields: "list" (how many is not a difference), and under
  path[*] the kinds each path takes across all elements, joined with "|"
  (their order is not a difference either);
- map fields (labels, annotations, info): "map", their contents are
  compared byte for byte by the tests against what was sent;
- enums: the value's name (a state must agree);
- int64 *_at / timestamp: "ns" when it is a plausible nanosecond time
  (within a day of now), "zero" when 0, else "not-ns:<value>";
- strings: "empty", "abs-path" (starts with /) or "str";
- other scalars: their type (exit codes and sizes may differ in value).

diff(a, b, allowed) gives the paths where two shapes differ, less the
documented differences in allowed ({path prefix: why})."""
import time

DAY_NS = 86400 * 10**9


def _scalar(fd, value):
    from google.protobuf.descriptor import FieldDescriptor as F
    if fd.type == F.TYPE_ENUM:
        ev = fd.enum_type.values_by_number.get(value)
        return ev.name if ev else f"enum?{value}"
    if fd.type in (F.TYPE_INT64, F.TYPE_UINT64) and (fd.name.endswith("_at")
                                                      or fd.name == "timestamp"):
        if value == 0:
            return "zero"
        return "ns" if abs(value - time.time_ns()) < DAY_NS else f"not-ns:{value}"
    if fd.type == F.TYPE_STRING:
        return "empty" if value == "" else ("abs-path" if value.startswith("/") else "str")
    if fd.type == F.TYPE_BYTES:
        return "empty" if value == b"" else "bytes"
    if fd.type == F.TYPE_BOOL:
        return "bool"
    return "int"


def shape(msg, prefix=""):
    from google.protobuf.descriptor import FieldDescriptor as F
    out = {}
    for fd in msg.DESCRIPTOR.fields:
        path = f"{prefix}{fd.name}"
        value = getattr(msg, fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            out[path] = "map" if len(value) else "empty-map"
        elif fd.label == F.LABEL_REPEATED:
            if len(value) == 0:
                out[path] = "empty-list"
                continue
            out[path] = "list"
            # Every element's shape, merged: the kinds a path takes across
            # the list, so that the order of the elements does not matter.
            kinds = {}
            for item in value:
                if fd.message_type is not None:
                    for k, v in shape(item, path + "[*].").items():
                        kinds.setdefault(k, set()).add(v)
                else:
                    kinds.setdefault(path + "[*]", set()).add(_scalar(fd, item))
            out.update({k: "|".join(sorted(v)) for k, v in kinds.items()})
        elif fd.message_type is not None:
            if msg.HasField(fd.name):
                out[path] = "message"
                out.update(shape(value, path + "."))
            else:
                out[path] = "absent"
        else:
            out[path] = _scalar(fd, value)
    return out


def diff(a, b, allowed=None):
    """Lines 'path: a-kind != b-kind' for every path whose kind differs
    and that no allowed prefix covers."""
    allowed = allowed or {}
    lines = []
    for path in sorted(set(a) | set(b)):
        ka, kb = a.get(path, "-"), b.get(path, "-")
        if ka == kb:
            continue
        if any(path == p or path.startswith(p + ".") or path.startswith(p + "[")
               for p in allowed):
            continue
        lines.append(f"  {path}: {ka} != {kb}")
    return lines

"""Whether two accuracy ``results.json`` files hold the same records, timings aside.

    python -m benchmarks.accuracy.same_records OLD/results.json NEW/results.json

Each record (one method on one scene, level and pointer seed) is compared field by field, leaving out the
fields whose names end in ``_s`` (wall seconds). Prints how many records each file holds, how many both hold
and how many of those differ, with the first differing fields; exits 1 when any differs.
"""

from __future__ import annotations

import json
import sys


def records(doc) -> dict:
    """(scene, level, seed, method) -> record, wherever the document nests them."""
    out = {}

    def walk(x):
        if isinstance(x, dict):
            if "scene" in x and "method" in x:
                out[(x.get("scene"), x.get("level"), x.get("seed"), x.get("method"))] = x
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc)
    return out


def differing(a: dict, b: dict) -> list:
    """The fields of records ``a`` and ``b`` that differ, timings (``*_s``) aside."""
    return sorted(f for f in set(a) | set(b) if not f.endswith("_s")
                  and json.dumps(a.get(f), sort_keys=True) != json.dumps(b.get(f), sort_keys=True))


def main(argv=None) -> int:
    old_path, new_path = (sys.argv[1:] if argv is None else argv)[:2]
    with open(old_path) as f:
        old = records(json.load(f))
    with open(new_path) as f:
        new = records(json.load(f))
    common = sorted(set(old) & set(new), key=str)
    diff = [(k, differing(old[k], new[k])) for k in common]
    diff = [(k, d) for k, d in diff if d]
    print(f"{len(old)} and {len(new)} records, {len(common)} in both, {len(diff)} differ beyond timings")
    for k, d in diff[:10]:
        print(" ", k, d[:6])
    return 1 if diff or len(common) != len(old) or len(common) != len(new) else 0


if __name__ == "__main__":
    sys.exit(main())

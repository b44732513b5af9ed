#!/usr/bin/env python3
"""Checks the shape DESIGN.md promises, on the source text:

1. layers: no module imports (`crate::X`) from a layer above its own;
2. size: no function in src/{wsgi,server,http,deploy,middleware} longer than 80 lines.

Exits 1 and names each offence. Run from the repository root: python3 scripts/structure.py
"""
import os
import re
import sys

# Bottom to top; a module may use its own layer and those below.
RANK = {"error": 0, "time": 0, "shm": 0, "config": 1, "logging": 1, "metrics": 1, "green": 2, "net": 3,
        "server": 4, "http": 5, "client": 6, "wsgi": 7, "middleware": 8, "testing": 8,
        "deploy": 9, "lib": 10, "fuzzing": 10}
# Root re-exports, by the layer they come from.
ROOT = {"Error": "error", "Result": "error", "spawn": "green", "sleep": "green", "try_sleep": "green",
        "yield_now": "green", "Greenlet": "green", "Timeout": "green",
        "with_timeout": "green", "joinall": "green", "configure": "green",
        "RuntimeConfig": "green", "JoinError": "green", "TimeoutError": "green",
        "event": "green", "lock": "green", "pool": "green", "queue": "green",
        "threadpool": "green", "run": "deploy", "coroutine_local": "green", "may": "green"}
SIZED = ("wsgi", "server", "http", "deploy", "middleware")
MAX_LINES = 80
FN = re.compile(r"\s*(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?fn\s+(\w+)")


def sources():
    for top, _, files in os.walk("src"):
        for f in sorted(files):
            if f.endswith(".rs"):
                path = os.path.join(top, f)
                parts = path.split(os.sep)
                yield path, parts[1] if len(parts) > 2 else parts[1][:-3]


def layer_offences(path, module, text):
    body = text.split("#[cfg(test)]")[0]
    for m in re.finditer(r"crate::(\w+)", body):
        target = ROOT.get(m.group(1), m.group(1))
        if target in RANK and RANK[target] > RANK[module]:
            line = body[: m.start()].count("\n") + 1
            yield f"{path}:{line}: {module} uses {target}, a higher layer"


def long_functions(path, text):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        m = FN.match(line)
        if not m or line.strip().startswith("//"):
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            started = started or "{" in lines[j]
            if (started and depth <= 0) or (not started and lines[j].rstrip().endswith(";")):
                break
            j += 1
        if j - i + 1 > MAX_LINES:
            yield f"{path}:{i + 1}: fn {m.group(5)} is {j - i + 1} lines (at most {MAX_LINES})"


def main():
    offences = []
    for path, module in sources():
        if module not in RANK:
            offences.append(f"{path}: module {module} has no layer in scripts/structure.py")
            continue
        text = open(path, encoding="utf-8").read()
        offences += layer_offences(path, module, text)
        if module in SIZED:
            offences += long_functions(path, text)
    for o in offences:
        print(o)
    print(f"structure: {len(offences)} offence(s)")
    return 1 if offences else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Import cycles between the top-level modules of each crate (broker, loadgen, cli).
#
# An edge `a -> b` is a `crate::b` path (a `use` or an inline path) in the non-test code
# of module `a` (`src/a.rs` or any file under `src/a/`; code after `#[cfg(test)] mod
# tests` and files named `tests.rs` are left out). An edge lies on a cycle when `b` also
# reaches `a`. Every such edge must be named in scripts/module-cycles.allow with the
# reason it is still there; the check fails on an edge that closes a NEW cycle (listing
# one cycle through it) and on an allowlisted edge that no longer lies on a cycle (so the
# list only shrinks). `--list` prints every edge on a cycle, in the allowlist's format.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'EOF'
import os, re, sys

CRATES = {"broker": "broker/src", "loadgen": "loadgen/src", "cli": "cli/src"}
ALLOW = "scripts/module-cycles.allow"
PATH = re.compile(r"\bcrate::(\{[^;]*?\}|[a-z_][a-z0-9_]*)", re.S)


def top_modules(src):
    out = set()
    for name in os.listdir(src):
        if name in ("lib.rs", "main.rs"):
            continue
        if name.endswith(".rs"):
            out.add(name[:-3])
        elif os.path.isdir(os.path.join(src, name)):
            out.add(name)
    return out


def code(path):
    with open(path) as f:
        text = f.read()
    cut = text.find("#[cfg(test)]\nmod tests")
    if cut >= 0:
        text = text[:cut]
    return re.sub(r"//[^\n]*", "", text)


def group_heads(group):
    """First path segment of each item of a `{...}` use group."""
    names, depth, cur = [], 0, ""
    for ch in group:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
        if depth == 1 and ch == ",":
            names.append(cur)
            cur = ""
        elif depth >= 1:
            cur += ch
    names.append(cur)
    return [re.split(r"\W", n.strip(), maxsplit=1)[0] for n in names if n.strip()]


def edges_of(src):
    mods = top_modules(src)
    edges = {}
    for m in mods:
        files = []
        if os.path.isfile(os.path.join(src, m + ".rs")):
            files.append(os.path.join(src, m + ".rs"))
        for d, _, fs in os.walk(os.path.join(src, m)):
            files += [os.path.join(d, f) for f in fs if f.endswith(".rs") and f != "tests.rs"]
        for f in files:
            for g in PATH.findall(code(f)):
                for t in group_heads(g) if g.startswith("{") else [g]:
                    if t in mods and t != m:
                        edges.setdefault((m, t), set()).add(f)
    return edges


def path_between(adj, a, b):
    """Shortest module path a -> ... -> b (breadth first)."""
    prev, queue = {a: None}, [a]
    while queue:
        n = queue.pop(0)
        if n == b:
            out = []
            while n is not None:
                out.append(n)
                n = prev[n]
            return out[::-1]
        for t in sorted(adj.get(n, ())):
            if t not in prev:
                prev[t] = n
                queue.append(t)
    return None


allowed = set()
with open(ALLOW) as f:
    for lineno, line in enumerate(f, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"(\w+):\s*(\w+)\s*->\s*(\w+)", line)
        if not m:
            sys.exit(f"{ALLOW}:{lineno}: expected `crate: from -> to  # reason`")
        allowed.add(m.groups())

listing = "--list" in sys.argv[1:]
new, gone, on_cycle = [], [], set()
for crate, src in CRATES.items():
    edges = edges_of(src)
    adj = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
    for (a, b), files in sorted(edges.items()):
        back = path_between(adj, b, a)
        if back is None:
            continue
        on_cycle.add((crate, a, b))
        if listing:
            print(f"{crate}: {a} -> {b}")
        elif (crate, a, b) not in allowed:
            new.append(f"{crate}: {a} -> {' -> '.join(back)}   (edge {a} -> {b} from "
                       + ", ".join(sorted(files)) + ")")
gone = sorted(allowed - on_cycle)
if listing:
    sys.exit(0)
for c in new:
    print(f"new import cycle: {c}")
for crate, a, b in gone:
    print(f"{ALLOW}: `{crate}: {a} -> {b}` no longer lies on a cycle: remove it")
if new or gone:
    sys.exit(1)
print(f"module cycles: {len(on_cycle)} edges on known cycles ({ALLOW}), no new ones")
EOF

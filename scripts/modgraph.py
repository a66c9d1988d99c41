#!/usr/bin/env python3
"""The import graph of a Rust crate's modules: fails on a cycle, or on an
import that runs from a lower layer back up to a higher one.

    scripts/modgraph.py shared/src            # check (exit 1 on a cycle)
    scripts/modgraph.py shared/src --print    # the graph, one module a line
    scripts/modgraph.py --self-test           # the checker finds a planted cycle

A module is a file (`http/builds.rs` is `http::builds`; `http/mod.rs` is
`http`). An edge A -> B is any path in A's code (a `use`, or an inline
`crate::b::x`, `super::x`, `child::x`) that names an item of B. Paths are
resolved to the longest known module prefix; `mod x;` declarations and
re-exports through a parent count as an edge to the parent, so a child
must not take items from its own parent's file (the parent assembles the
children; shared items live in a sibling such as `http/state.rs`).
Code under `#[cfg(test)]` is left out: tests may reach anywhere.

Layers come from LAYERS below (the first path segment after the crate
root, lowest first); a module may import only its own layer or lower.
"""
from __future__ import annotations

import pathlib
import re
import sys

# Bottom up; a top-level module not listed here is an error (so a new
# module gets a layer on purpose).
LAYERS = {
    "shared/src": [
        # 0: ids, rules and small utilities, no I/O
        ["domain", "paths", "hash", "keys", "env", "fsutil", "progress", "compress", "capgo", "time"],
        # 1: signed data and what is built from it
        ["manifest", "keyset", "rsakey", "tree", "zipwrite", "artifact", "schemas"],
        # 2: records and pure decisions
        ["model", "lookup", "rollout", "predict", "wire"],
        # 3: storage
        ["store", "https"],
        # 4: operations over the stores
        ["ops"],
        # 5: the HTTP API
        ["http"],
        # 6: how each deployment assembles it
        ["aws", "lambda"],
    ],
}


def strip_code(text: str) -> str:
    """Removes comments, strings and char literals (keeping line shape)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            i = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x..'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x..'", text[i:])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_test_code(code: str) -> str:
    """Removes items under `#[cfg(test)]` (a module body, or one item)."""
    while True:
        m = re.search(r"#\[cfg\(test\)\]", code)
        if not m:
            return code
        j = m.end()
        # the item ends at the matching brace of its first `{`, or at `;`
        k = j
        while k < len(code) and code[k] not in "{;":
            k += 1
        if k < len(code) and code[k] == "{":
            depth = 0
            while k < len(code):
                if code[k] == "{":
                    depth += 1
                elif code[k] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
        code = code[: m.start()] + code[k + 1:]


def inline_super(code: str) -> str:
    """Inside an inline `mod x { ... }`, `super::` names the file's module."""
    out, i = [], 0
    for m in re.finditer(r"\bmod\s+\w+\s*\{", code):
        if m.start() < i:
            continue
        k, depth = m.end() - 1, 0
        while k < len(code):
            depth += code[k] == "{"
            depth -= code[k] == "}"
            if depth == 0:
                break
            k += 1
        out.append(code[i:m.end()])
        out.append(re.sub(r"\bsuper::", "self::", code[m.end():k]))
        i = k
    out.append(code[i:])
    return "".join(out)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)

    def parse(s: str, prefix: str) -> list[str]:
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        parts.append(cur)
        res = []
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, _, rest = p.partition("{")
                res += parse(rest[:-1], prefix + head)
            else:
                res.append(prefix + p)
        return res

    return parse(tree, "")


def modules(root: pathlib.Path) -> dict[tuple[str, ...], pathlib.Path]:
    mods = {}
    for f in sorted(root.rglob("*.rs")):
        rel = f.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
            parts = parts[:-1]
        mods[tuple(parts)] = f
    return mods


def edges(root: pathlib.Path):
    mods = modules(root)
    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in mods}
    for mod, f in mods.items():
        code = inline_super(drop_test_code(strip_code(f.read_text())))
        children = {c[-1] for c in mods if len(c) == len(mod) + 1 and c[:-1] == mod}
        paths = []
        for m in re.finditer(r"\buse\s+([^;]+);", code):
            paths += expand_use(m.group(1))
        code_wo_use = re.sub(r"\buse\s+[^;]+;", "", code)
        paths += re.findall(r"(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)", code_wo_use)
        for p in paths:
            segs = [s for s in p.split("::") if s]
            if not segs:
                continue
            base: list[str]
            if segs[0] == "crate":
                base, segs = [], segs[1:]
            elif segs[0] in ("super", "self"):
                base = list(mod)
                while segs and segs[0] in ("super", "self"):
                    if segs[0] == "super":
                        base = base[:-1]
                    segs = segs[1:]
            elif segs[0] in children:
                base = list(mod)
            else:
                continue  # an external crate or a local name
            full = tuple(base + segs)
            target = None
            for k in range(len(full), -1, -1):
                if full[:k] in mods:
                    target = full[:k]
                    break
            if target is not None and target != mod:
                graph[mod].add(target)
    return graph


def find_cycle(graph):
    color, stack = {}, []

    def visit(v):
        color[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if color.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in color:
                c = visit(w)
                if c:
                    return c
        stack.pop()
        color[v] = 2
        return None

    for v in sorted(graph):
        if v not in color:
            c = visit(v)
            if c:
                return c
    return None


def name(m):
    return "::".join(m) or "crate"


def check(root: pathlib.Path, layers) -> list[str]:
    graph = edges(root)
    problems = []
    cycle = find_cycle(graph)
    if cycle:
        problems.append("import cycle: " + " -> ".join(name(m) for m in cycle))
    if layers:
        level = {m: i for i, ms in enumerate(layers) for m in ms}
        for m in graph:
            if m and m[0] not in level:
                problems.append(f"{name(m)}: top-level module without a layer; add it to LAYERS in scripts/modgraph.py")
        for a, targets in sorted(graph.items()):
            for b in sorted(targets):
                if a and b and a[0] in level and b[0] in level and level[b[0]] > level[a[0]]:
                    problems.append(f"{name(a)} (layer {level[a[0]]}) imports {name(b)} (layer {level[b[0]]}): an import back up a layer")
    return problems


def self_test() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        root = pathlib.Path(d)
        (root / "http").mkdir()
        (root / "lib.rs").write_text("pub mod domain;\npub mod http;\n")
        (root / "domain.rs").write_text("pub struct A; // crate::http::x\n")
        (root / "http" / "mod.rs").write_text("mod a;\nmod b;\npub fn r() { a::f(); b::g(); }\n")
        (root / "http" / "a.rs").write_text("use crate::domain::A;\npub fn f() {}\n")
        (root / "http" / "b.rs").write_text('use super::a::f;\npub fn g() { let _ = "super::b"; }\n#[cfg(test)]\nmod t { use crate::http::r; }\n')
        layers = [["domain"], ["http"]]
        assert check(root, layers) == [], check(root, layers)
        (root / "http" / "a.rs").write_text("use crate::{domain::A, http::b::g};\npub fn f() {}\n")
        p = check(root, layers)
        assert p and "import cycle: http::a -> http::b -> http::a" in p[0], p
        (root / "http" / "a.rs").write_text("pub fn f() {}\n")
        (root / "domain.rs").write_text("pub fn x() { crate::http::r(); }\n")
        p = check(root, layers)
        assert p == ["domain (layer 0) imports http (layer 1): an import back up a layer"], p
    print("modgraph self-test: a planted cycle and an upward import are found")
    return 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    roots = [a for a in argv if not a.startswith("--")] or list(LAYERS)
    bad = 0
    for r in roots:
        root = pathlib.Path(r)
        if "--print" in argv:
            for m, t in sorted(edges(root).items()):
                print(f"{name(m)} -> {', '.join(sorted(name(x) for x in t))}")
            continue
        problems = check(root, LAYERS.get(r.rstrip("/")))
        for p in problems:
            print(f"{r}: {p}", file=sys.stderr)
        if problems:
            bad = 1
        else:
            print(f"{r}: {len(modules(root))} modules, no import cycle, no import back up a layer")
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

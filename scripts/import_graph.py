"""The subpackage-level import graph of purgewatch, and its cycles.

    python scripts/import_graph.py [SRC]      # SRC: a source tree (default: ./src)

A subpackage is a first-level child of ``purgewatch`` (``analysis``, ``store``, ``cli``, or
a module such as ``queries``). For each one it prints the subpackages it imports (with
the number of module-level imports behind each edge, and how many of those reach a
private module of the other side), then every cycle between subpackages (strongly
connected components of more than one node). The graph comes from grimp, the library
import-linter builds its contracts on, so imports inside functions count too.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path


def subpackage(module: str) -> str:
    return ".".join(module.split(".")[:2])


def build(src: Path) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(edges, private edges): importer subpackage -> imported subpackage -> count."""
    sys.path.insert(0, str(src))
    import grimp

    graph = grimp.build_graph("purgewatch", cache_dir=None)
    edges: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    private: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = subpackage(importer), subpackage(imported)
            if a == b or b == "purgewatch":
                continue
            edges[a][b] += 1
            if any(p.startswith("_") and not p.startswith("__") for p in imported.split(".")[2:]):
                private[a][b] += 1
    return edges, private


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one subpackage (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    nodes = sorted(set(edges) | {b for targets in edges.values() for b in targets})
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    src = Path(argv[1] if len(argv) > 1 else "src").resolve()
    edges, private = build(src)
    short = lambda m: m.removeprefix("purgewatch.")  # noqa: E731
    print(f"import graph of {src}")
    total = sum(sum(t.values()) for t in edges.values())
    n_private = sum(sum(t.values()) for t in private.values())
    print(f"{len(edges)} importing subpackages, {sum(len(t) for t in edges.values())} edges, "
          f"{total} module imports across subpackages ({n_private} of them to a private module)")
    for a in sorted(edges):
        parts = []
        for b in sorted(edges[a]):
            p = private[a].get(b, 0)
            parts.append(f"{short(b)}({edges[a][b]}" + (f", {p} private" if p else "") + ")")
        print(f"  {short(a)} -> {', '.join(parts)}")
    found = cycles(edges)
    print(f"cycles: {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(short(m) for m in comp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

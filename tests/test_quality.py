"""Lint and type checks run as part of the test suite, so the README's one test command
covers them (and CI with it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_clean() -> None:
    proc = _run("ruff", "check", "src", "tests", "benchmarks", "scripts")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = _run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_layer_contract_kept() -> None:
    """The import-linter contract in pyproject.toml: data moves one way, no cycles."""
    proc = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


# Private imports across subpackages allowed, as "importer -> imported module[.name]".
# None: a package that needs another's private name gets a public one instead.
PRIVATE_IMPORTS_ALLOWED: frozenset[str] = frozenset()


def private_imports(src: Path) -> dict[str, list[str]]:
    """Imports of a private (underscore) module or name of ANOTHER subpackage of
    purgewatch ("purgewatch.a.x -> purgewatch.b._y[.name]" -> where), found with grimp (the
    graph import-linter builds) for every import, including those inside functions.
    A subpackage is a first-level child of purgewatch (``analysis``, ``store``, ``cli``,
    or a module such as ``queries``); inside one, private modules are its own business.
    The package root's own private modules (``purgewatch._version``) are not a
    subpackage's. Attribute access on an imported module (``mod._name``) is checked too."""
    import ast

    import grimp

    def sub(module: str) -> str:
        return ".".join(module.split(".")[:2])

    def private(parts: list[str]) -> bool:
        return any(p.startswith("_") and not p.startswith("__") for p in parts)

    graph = grimp.build_graph("purgewatch", cache_dir=None)
    modules = set(graph.modules)
    found: dict[str, list[str]] = {}
    for importer in sorted(modules):
        path = src / (importer.replace(".", "/") + ".py")
        if not path.exists():
            path = src / importer.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("purgewatch"):
                targets = []
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if full in modules:  # ``from purgewatch.store import _layout``: a module
                        aliases[a.asname or a.name] = full
                        targets.append(full)
                    else:
                        targets.append(f"{node.module}.{a.name}")
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("purgewatch")]
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name.startswith("purgewatch")})
            else:
                continue
            for target in targets:
                if sub(target) != sub(importer) and private(target.split(".")[2:]):
                    found.setdefault(f"{importer} -> {target}", []).append(f"{path.relative_to(src)}:{node.lineno}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                target = aliases[node.value.id]
                if sub(target) != sub(importer) and private([node.attr]):
                    found.setdefault(f"{importer} -> {target}.{node.attr}", []).append(
                        f"{path.relative_to(src)}:{node.lineno}")
        # grimp's own record of the module-level edges: a private module reached another way
        for imported in graph.find_modules_directly_imported_by(importer):
            if sub(imported) != sub(importer) and private(imported.split(".")[2:]):
                key = f"{importer} -> {imported}"
                if not any(k == key or k.startswith(key + ".") for k in found):
                    found.setdefault(key, []).append(str(path.relative_to(src)))
    return found


def test_no_private_imports_across_subpackages() -> None:
    """A subpackage's underscore modules and names are its own: others use what its
    ``__init__`` (or a public module) offers, so its insides can change."""
    found = private_imports(ROOT / "src")
    bad = {k: v for k, v in found.items() if k not in PRIVATE_IMPORTS_ALLOWED}
    assert not bad, "private imports across subpackages (give the name a public home):\n" + "\n".join(
        f"  {k}  ({', '.join(v)})" for k, v in sorted(bad.items()))
    stale = PRIVATE_IMPORTS_ALLOWED - set(found)
    assert not stale, f"allowed private imports no longer made (remove them from the list): {sorted(stale)}"

"""The layers of docs/architecture.md, enforced: every ``import lmscape.X`` in every
module (at the top or inside a function) goes to a package its layer may use."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lmscape"
DOC = ROOT / "docs" / "architecture.md"

BASE = {"errors", "config", "_version"}
LOWER = {"catalog", "store", "metrics", "backends", "tasks", "methods"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "config": {"errors"},
    "catalog": {"errors", "config"},
    "store": {"errors", "config"},
    "metrics": {"errors"},
    "backends": {"errors", "config", "catalog"},
    "tasks": {"errors", "config", "metrics"},
    "methods": {"errors", "config", "catalog", "backends", "tasks", "metrics"},
    "bench": {"errors", "config", *LOWER},
    "report": {"errors", "config", "_version", "catalog", "store", "metrics", "tasks", "bench"},
    "decide": {"errors", "config", *LOWER, "bench", "report"},
    "route": {"errors", "config", *LOWER, "bench"},
    "distill": {"errors", "config", *LOWER, "bench"},
    "serve": {*BASE, *LOWER, "bench", "route", "decide", "report", "ui"},
    "ui": {*BASE, *LOWER, "bench", "report", "decide", "route"},
    "cli": {*BASE, *LOWER, "bench", "report", "decide", "route", "distill", "serve", "ui"},
    "lmscape": {"errors", "_version", "backends", "decide", "distill"},
}


def _layer(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if len(rel.parts) == 1:
        if rel.stem == "__main__":  # `python -m lmscape` is the command line's entry point
            return "cli"
        return "lmscape" if rel.stem == "__init__" else rel.stem
    return rel.parts[0]


def _targets(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level lmscape package) for every import of lmscape in ``tree``."""
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lmscape":
                names = [f"lmscape.{a.name}" for a in node.names]
            else:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "lmscape":
                out.append((node.lineno, parts[1] if len(parts) > 1 else "lmscape"))
    return out


def test_every_import_respects_the_layers():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        assert layer in ALLOWED, f"{path}: package {layer!r} has no row in ALLOWED"
        for line, target in _targets(ast.parse(path.read_text(encoding="utf-8"))):
            if target != layer and target not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {layer} -> {target}")
    assert not bad, "imports that break docs/architecture.md:\n" + "\n".join(bad)


def test_nothing_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if _layer(path) != "cli":
            assert "cli" not in {t for _, t in _targets(ast.parse(path.read_text()))}, path


def test_the_document_states_the_same_rules():
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([\w.]+)`(?: \(the package root\))? \| ([^|]*) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip()
    assert set(rows) == set(ALLOWED)
    for layer, allowed in ALLOWED.items():
        text = rows[layer]
        if layer == "cli":
            assert text == "every package"
            continue
        if layer == "lmscape":
            assert all(name in text for name in allowed)
            continue
        stated = set() if text == "—" else {p.strip() for p in text.split(",")}
        assert stated == allowed, f"{layer}: document says {sorted(stated)}"

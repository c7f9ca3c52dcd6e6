"""The rules of docs/architecture.md, read off the source (nothing is imported or run)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "tablever"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = modules()


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(sub) for sub in ast.walk(node))
    return skip


def _owner(dotted: str) -> str | None:
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def imports() -> dict[str, set[str]]:
    """Module -> the tablever modules it imports, at any depth of its code."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target.startswith("tablever"):
                    owner = _owner(target)
                    if owner and owner != name:
                        graph[name].add(owner)
    return graph


def test_no_import_cycle() -> None:
    graph = imports()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


# Private members of other libraries that are their documented way (os._exit in a
# crash test hook; MLflow logs a dataset input through its entity).
ALLOWED_PRIVATE = {"os._exit", "dataset._to_mlflow_entity"}


def test_no_reach_into_private_members() -> None:
    found = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text())
        classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                continue
            base = node.value
            text = ast.unparse(node)
            if isinstance(base, ast.Name) and base.id in ("self", "cls", "other"):
                continue  # the object's own class (``other`` in __eq__)
            if text in ALLOWED_PRIVATE:
                continue
            if isinstance(base, ast.Name) and any(base.id.lower() == c.lower() for c in classes):
                continue  # an instance of a class of this module, by name
            found.append(f"{name}:{node.lineno}: {text}")
    assert not found, found


def test_only_storage_touches_paths_and_locality() -> None:
    found = []
    for name, path in MODULES.items():
        if name == "tablever.storage":
            continue
        text = path.read_text()
        for pattern in (r"\.is_local\b", r"\b(?!np\b)\w+\.full\(", r"\bstorage\.fs\b"):
            found += [f"{name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not found, found


def test_long_modules_say_why() -> None:
    long = []
    for name, path in MODULES.items():
        source = path.read_text()
        if source.count("\n") > 520:
            doc = ast.get_docstring(ast.parse(source)) or ""
            if "Why one module" not in doc:
                long.append(f"{name} ({source.count(chr(10))} lines)")
    assert not long, long

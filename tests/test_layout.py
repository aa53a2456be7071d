"""The house as DESIGN.md draws it: each layer imports only the ones below it, no module
imports itself back through others, and a module past ~500 lines says why it is long."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "actors", "runtime")
#: What each layer may import from the project (DESIGN.md, "Layers").
ALLOWED = {"engine": {"engine"}, "actors": {"engine", "actors"},
           "runtime": {"engine", "actors", "runtime"}}
LONG = 500


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``name`` imports when it is imported (not inside functions, not
    under ``if TYPE_CHECKING``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in known}


def test_each_layer_imports_only_the_layers_below_it() -> None:
    """engine imports nothing of ours but itself; actors only engine; runtime the three."""
    bad = []
    for name, path in _modules().items():
        layer = name.split(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top = node.module.split(".")[0]
                if top in PACKAGES and top not in ALLOWED[layer]:
                    bad.append(f"{name} imports {node.module}")
    assert bad == []


def test_no_import_cycle() -> None:
    """No module imports itself back through others when it is imported (the engine's
    hours -> state -> localtime loop included: they take Protocols now)."""
    modules = _modules()
    known = set(modules)
    graph = {name: _module_level_imports(path, name, known) - {name}
             for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how a face is built, not a cycle.
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                walk(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [])
    assert cycles == []


def test_the_engine_needs_no_type_checking_imports() -> None:
    """The engine is the bottom layer: its modules type each other without import tricks."""
    for path in (ROOT / "engine").rglob("*.py"):
        assert "TYPE_CHECKING" not in path.read_text(), path


def test_a_long_module_says_why() -> None:
    """A module over ~500 lines is two ideas unless its docstring says why it is one."""
    unexplained = []
    for name, path in _modules().items():
        lines = path.read_text().count("\n")
        if lines > LONG:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if "lines" not in doc:
                unexplained.append(f"{name}: {lines} lines")
    assert unexplained == []


def test_the_docs_name_no_file_that_does_not_exist() -> None:
    """Every project path README.md and docs/ name (``runtime/...``, ``tests/...``,
    ``bench/...``, ``deploy/...``, ``ops/...``, ``docs/...``) is there, but for what the
    operator makes by hand (``deploy/secrets``, ``deploy/models``)."""
    import re

    pattern = re.compile(r"\b((?:runtime|actors|engine|tests|bench|deploy|ops|docs)/"
                         r"[A-Za-z0-9_./@-]*[A-Za-z0-9_])")
    made_by_hand = ("deploy/secrets", "deploy/models")
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in pattern.finditer(doc.read_text()):
            path = match.group(1)
            if "*" in path or "<" in path or path.startswith(made_by_hand):
                continue
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert missing == []

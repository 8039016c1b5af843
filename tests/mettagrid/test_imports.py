"""The modules of mettagrid and trainer import each other without cycles: every import statement counts, those
inside functions too (a deferred import hides a cycle, it does not remove it), except the ones under
`if TYPE_CHECKING:`, which never run."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mettagrid", "trainer")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).glob("*.py"))}


def _is_module(name: str) -> bool:
    if name in MODULES:
        return True
    try:
        return name.split(".")[0] in PACKAGES and importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _imports(path: Path) -> set[str]:
    """The modules of MODULES that `path` imports anywhere, outside `if TYPE_CHECKING:` blocks."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import name` imports the module pkg.name when there is one (the compiled ones included),
            # else pkg itself
            out.update(f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                       for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in out if m in MODULES and m != _module_name(path)}


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_import_graph_has_no_cycle() -> None:
    cycles = sorted(name for name in GRAPH if name in _reachable(name))
    assert not cycles, f"modules on an import cycle: {cycles}; edges: { {m: sorted(GRAPH[m]) for m in cycles} }"


def test_the_config_resolver_imports_only_the_config_and_the_presets() -> None:
    assert GRAPH["mettagrid.resolve"] == {"mettagrid.config", "mettagrid.presets"}
    assert _reachable("mettagrid.resolve") <= {"mettagrid.config", "mettagrid.presets", "mettagrid.spec_builder",
                                                "mettagrid._core"}


def test_checkpoints_and_policies_do_not_depend_on_the_rollout_or_a_default_game() -> None:
    assert "trainer.experience" not in _reachable("trainer.checkpoint")
    assert "mettagrid.presets" not in GRAPH["trainer.policies"] and "mettagrid.config" not in GRAPH["trainer.policies"]

"""The package's import graph has no cycle (every `import convlab…` counts,
those inside functions too), and the lab's everyday work never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import convlab

PACKAGE = Path(convlab.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                # `from convlab.results import report` imports the module convlab.results.report
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert "convlab.cli.run" in graph["convlab.cli"]  # the walk sees the package's imports
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))


def test_the_walk_finds_a_cycle_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_labs_first_frame_imports_neither_numpy_nor_the_commands():
    """`convlab` alone opens the lab; what its home screen needs loads no numpy
    (a sixth of the first frame on a loaded machine), no torch, and none of
    the subcommands' modules. numpy comes when a run's view needs arrays."""
    code = (
        "import sys; import convlab.cli; from convlab.tui.app import ConvlabApp; "
        "import convlab.tui.screens.home; "
        "print(sorted(m for m in sys.modules if m in ('numpy', 'torch') or m.startswith('convlab.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

"""The package's import graph has no cycle (every `import convlab…` counts,
those inside functions too), its layers hold (the book never imports the
store, the store never imports torch, the lab never imports torch, only the
CLI and the lab import textual), and the lab's everyday work never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------- the layers
#
# A finer graph than the cycle test's: its nodes are modules ("convlab.store.runs":
# what importing it runs), their top-level functions and classes, bodies included
# ("convlab.store.runs:Runs"), and outside packages by their top-level name
# ("torch"). So `from convlab.versions import base_versions` reaches what
# base_versions imports, not what the module's other functions import inside
# them; a module imported whole reaches the functions its importer uses
# (`mnist.load_mnist`). Imports under `if TYPE_CHECKING:` never run and are left
# out; `require("tensorboard", …)` (convlab.extras) counts as an import.

Graph = dict[str, set[str]]


def package_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in PACKAGE.rglob("*.py")}


def _type_checking(test: ast.expr) -> bool:
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _parents(module: str, modules: set[str]) -> set[str]:
    """The packages Python runs before `module`."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} & modules


def _imports(node: ast.AST, modules: set[str]) -> Iterator[tuple[str, str | None, str | None]]:
    """(module, name, bound as) of an import statement or a require() call: name None
    for a module imported whole; an outside module by its top-level package."""

    def target(module: str) -> str:
        return module if module.startswith("convlab") else module.split(".")[0]

    if isinstance(node, ast.Import):
        for alias in node.names:
            yield target(alias.name), None, alias.asname or (alias.name if "." not in alias.name else None)
    elif isinstance(node, ast.ImportFrom) and node.module:
        for alias in node.names:
            sub = f"{node.module}.{alias.name}"
            bound = alias.asname or alias.name
            yield (sub, None, bound) if sub in modules else (target(node.module), alias.name, bound)
    elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require":
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield target(node.args[0].value), None, None


class Walker:
    """The edges of one module's scopes. `bound`: the convlab modules bound to a
    name where a node is (`from convlab.data import mnist as m`), so that
    `m.load_mnist` reaches load_mnist alone, and `m` passed on reaches all of it."""

    def __init__(self, module: str, modules: set[str], defs: dict[str, set[str]]):
        self.module, self.modules, self.defs = module, modules, defs

    def aliases(self, nodes: list[ast.AST]) -> dict[str, str]:
        """The modules these statements bind to names (not those of functions inside them)."""
        bound: dict[str, str] = {}
        for node in nodes:
            if isinstance(node, FUNCTIONS) or (isinstance(node, ast.If) and _type_checking(node.test)):
                continue
            for target, name, alias in _imports(node, self.modules):
                if target in self.modules and name is None and alias:
                    bound[alias] = target
            bound |= self.aliases(list(ast.iter_child_nodes(node)))
        return bound

    def reach(self, nodes: list[ast.AST], bound: dict[str, str]) -> set[str]:
        return set().union(*(self._reach(node, bound) for node in nodes))

    def _reach(self, node: ast.AST, bound: dict[str, str]) -> set[str]:
        if isinstance(node, ast.If) and _type_checking(node.test):
            return self.reach(node.orelse, bound)  # the body never runs
        if isinstance(node, FUNCTIONS):  # its parameters hide outer names; its own imports bind inside it
            params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            body = node.body if isinstance(node.body, list) else [node.body]
            bound = {k: v for k, v in bound.items() if k not in params} | self.aliases(body)
        out: set[str] = set()
        for target, name, _ in _imports(node, self.modules):
            out |= {target} | _parents(target, self.modules)
            if target in self.modules and name in self.defs[target]:
                out.add(f"{target}:{name}")
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) in bound:
            target = bound[node.value.id]
            return out | ({f"{target}:{node.attr}"} if node.attr in self.defs[target] else set())
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id in bound:  # the module itself, passed on: any of it may run
                out |= {f"{bound[node.id]}:{d}" for d in self.defs[bound[node.id]]}
            elif node.id in self.defs[self.module]:
                out.add(f"{self.module}:{node.id}")
        return out | self.reach(list(ast.iter_child_nodes(node)), bound)


def layer_graph(sources: dict[str, str]) -> Graph:
    trees = {name: ast.parse(text) for name, text in sources.items()}
    modules = set(sources)
    defs = {name: {s.name for s in tree.body if isinstance(s, DEFS)} for name, tree in trees.items()}
    graph: Graph = {}
    for module, tree in trees.items():
        walker = Walker(module, modules, defs)
        top = [s for s in tree.body if not isinstance(s, DEFS)]
        bound = walker.aliases(top)
        graph[module] = walker.reach(top, bound) | _parents(module, modules)
        for stmt in tree.body:
            if isinstance(stmt, DEFS):
                graph[f"{module}:{stmt.name}"] = walker.reach([stmt], bound) | {module}
    for edges in list(graph.values()):
        for target in edges:
            graph.setdefault(target, set())
    return graph


def within(node: str, package: str) -> bool:
    return node == package or node.startswith((f"{package}.", f"{package}:"))


@dataclass(frozen=True)
class Layer:
    """Nothing in `sources` (packages; with `others`, everything but them) reaches `forbidden`."""

    rule: str
    sources: tuple[str, ...]
    forbidden: str
    others: bool = False
    breach: tuple[str, ...] = ()  # a path that breaks the rule, to show that the check sees it

    def applies(self, node: str) -> bool:
        inside = any(within(node, s) for s in self.sources)
        return node.startswith("convlab") and inside != self.others


LAYERS = (
    Layer(
        "the book's engine never imports the store",
        ("convlab.book",),
        "convlab.store",
        breach=("convlab.book.trainer:Trainer", "convlab.runs.jobs", "convlab.store"),
    ),
    Layer(
        "the store never imports torch",
        ("convlab.store",),
        "torch",
        breach=("convlab.store.runs:Runs", "convlab.versions:library_versions", "torch"),
    ),
    Layer(
        "the lab never imports torch",
        ("convlab.tui",),
        "torch",
        breach=("convlab.tui.screens.compare:CompareScreen", "convlab.data.mnist:to_device", "torch"),
    ),
    Layer(
        "only the CLI and the lab import textual",
        ("convlab.cli", "convlab.tui", "convlab.__main__"),  # __main__: `python -m convlab`, the CLI
        "textual",
        others=True,
        breach=("convlab.results.report:Row", "convlab.tui.widgets.curve", "textual"),
    ),
)


def breach_of(graph: Graph, layer: Layer) -> list[str] | None:
    """The first import path from where the layer's rule applies to what it forbids, if any."""
    for start in sorted(n for n in graph if layer.applies(n)):
        came_from: dict[str, str | None] = {start: None}
        queue = [start]
        for node in queue:
            if within(node, layer.forbidden):
                path = [node]
                while (previous := came_from[path[-1]]) is not None:
                    path.append(previous)
                return path[::-1]
            for target in sorted(graph.get(node, ())):
                if target not in came_from:
                    came_from[target] = node
                    queue.append(target)
    return None


@pytest.fixture(scope="module")
def layers_graph() -> Graph:
    return layer_graph(package_sources())


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.rule)
def test_the_layers_hold(layers_graph, layer):
    breach = breach_of(layers_graph, layer)
    assert breach is None, f"{layer.rule}: " + " → ".join(breach)


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.rule)
def test_each_layer_rule_sees_a_breach(layers_graph, layer):
    """The package's graph with one path added that breaks the rule: the check finds it."""
    graph = {node: set(edges) for node, edges in layers_graph.items()}
    for a, b in zip(layer.breach, layer.breach[1:]):
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    breach = breach_of(graph, layer)
    assert breach is not None and within(breach[-1], layer.forbidden) and layer.applies(breach[0])
    assert breach_of({"convlab.x": {"convlab.y"}, "convlab.y": set()}, layer) is None


def test_the_layer_graph_follows_imports_into_functions_and_names():
    """Imports inside functions count, those under TYPE_CHECKING do not; importing
    a function reaches what it imports, not what its neighbours do; a module
    imported whole reaches the functions read through it, all of them when it is
    passed on; a parameter of the same name is not the module."""
    graph = layer_graph(
        {
            "convlab": "",
            "convlab.extras": "def require(module, extra, what):\n    pass\n",
            "convlab.low": "import numpy\ndef light():\n    import json\ndef heavy():\n    import torch\n",
            "convlab.one": "from convlab.low import light\n",
            "convlab.two": (
                "from convlab import low\ndef f(low=None):\n    low.heavy()\n"
                "def g():\n    from convlab import low as l\n    l.light()\n"
            ),
            "convlab.three": "def f():\n    from convlab import low\n    g(low)\ndef g(m):\n    pass\n",
            "convlab.four": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n",
            "convlab.five": "class K:\n    def f(self):\n        import torch\n",
            "convlab.six": "from convlab.extras import require\ndef f():\n    require('textual.app', 'x', 'y')\n",
        }
    )

    def breach(module: str, forbidden: str = "torch") -> list[str] | None:
        return breach_of(graph, Layer("", (module,), forbidden))

    assert breach("convlab.one") is None and breach("convlab.two") is None and breach("convlab.four") is None
    assert breach("convlab.three") == ["convlab.three:f", "convlab.low:heavy", "torch"]
    assert breach("convlab.five") == ["convlab.five:K", "torch"]
    assert breach("convlab.six", "textual") == ["convlab.six:f", "textual"]
    assert graph["convlab.two:g"] >= {"convlab.low", "convlab.low:light"} and "numpy" in graph["convlab.low"]

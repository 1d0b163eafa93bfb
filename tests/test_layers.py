"""The dependency order of the layers, checked on the import graph (AST, no imports run).

Each layer imports only itself and the layers below it; nothing imports another package's
private module or private name; there are no import cycles between modules. The checker is
tested on planted wrong imports so that it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "lyactrl"

#: component -> layer; base modules are the top-level ``_x`` modules (layer 0).
LAYERS = {
    "systems": 1,
    "lyapunov": 2,
    "conditions": 3,
    "regions": 3,
    "sdp": 4,
    "bounds": 4,
    "verify": 5,
    "robust": 6,
    "synthesis": 6,
    "train": 7,
    "plot": 8,
    "cli": 9,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sources() -> dict[str, tuple[str, bool]]:
    """module name -> (source, is_package)."""
    return {_module_name(p): (p.read_text(), p.name == "__init__.py") for p in ROOT.rglob("*.py")}


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(sources: dict[str, tuple[str, bool]]) -> list[tuple[str, str, str | None]]:
    """Edges ``(importer, imported module, imported name or None)`` inside lyactrl."""
    edges = []
    for module, (src, is_pkg) in sources.items():
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                edges += [
                    (module, a.name, None) for a in node.names if a.name.startswith("lyactrl")
                ]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(module, is_pkg, node)
                if target.startswith("lyactrl"):
                    for a in node.names:
                        sub = f"{target}.{a.name}"
                        is_mod = sub in sources
                        edges.append(
                            (module, sub if is_mod else target, None if is_mod else a.name)
                        )
    return edges


def _component(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("_") else None


def _layer(module: str) -> int:
    comp = _component(module)
    return 0 if comp is None else LAYERS[comp]


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Every import that breaks the layer order or reaches another package's privates."""
    out = []
    for src, dst, name in imports(sources):
        if src == "lyactrl":  # the top level re-exports everything
            continue
        a, b = _component(src), _component(dst)
        if a != b and (_layer(dst) > _layer(src) or (_layer(dst) == _layer(src) and b)):
            out.append(f"{src} imports {dst}: layer {_layer(dst)} from layer {_layer(src)}")
        parts = dst.split(".")
        private = [p for p in parts[2:] if p.startswith("_")]
        if b is not None and a != b and private:
            out.append(f"{src} imports the private module {dst} of another package")
        if name is not None and name.startswith("_") and not name.startswith("__") and a != b:
            out.append(f"{src} imports the private name {name} from {dst}")
    return out


def cycles(sources: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Cycles between modules (package ``__init__`` re-exports excluded)."""
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for src, dst, _ in imports(sources):
        if not sources[src][1] and dst in graph and dst != src and not sources[dst][1]:
            graph[src].add(dst)
    found, state, stack = [], {}, []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_layers_import_only_downwards_and_no_privates() -> None:
    assert violations(_sources()) == []


def test_no_import_cycles() -> None:
    assert cycles(_sources()) == []


def test_every_component_has_a_layer() -> None:
    comps = {_component(m) for m in _sources()} - {None}
    assert comps <= set(LAYERS), comps - set(LAYERS)


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        ("lyactrl.systems._planted", "from ..verify import certify", "layer 5 from layer 1"),
        ("lyactrl.plot._planted", "from ..verify._certify import certify", "private module"),
        ("lyactrl.robust._planted", "from ..verify import _secret", "private name"),
        ("lyactrl.sdp._planted", "from ..bounds import Bounds", "layer 4 from layer 4"),
    ],
)
def test_checker_fails_on_a_planted_wrong_import(module: str, line: str, expected: str) -> None:
    sources = dict(_sources())
    sources[module] = (line + "\n", False)
    found = [v for v in violations(sources) if v.startswith(module)]
    assert any(expected in v for v in found), found


def test_checker_finds_a_planted_cycle() -> None:
    sources = dict(_sources())
    sources["lyactrl.verify._a"] = ("from . import _b\n", False)
    sources["lyactrl.verify._b"] = ("from ._a import x\n", False)
    assert any("lyactrl.verify._a" in c for c in cycles(sources))

"""The code's shape, checked from its syntax trees (docs/architecture.md).

* No module reaches into another object's or module's underscore names: an attribute
  ``x._name`` is only read or written through ``self``, ``cls`` or ``super()``, and no
  ``from m import _name`` exists.  A new such access fails here with its place.
* Size budgets: no module over :data:`MODULE_LINES` lines, no function over
  :data:`FUNCTION_LINES` lines.
* Imports point one way (fronts -> engine -> transport -> protocol -> golang):
  :data:`LAYERS` places every package; none imports a layer above its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

PACKAGE: Final = Path(__file__).resolve().parent.parent / "emulator"

#: The budgets of docs/architecture.md ("no module over ~600 lines": 10 % of slack).
MODULE_LINES: Final = 660
FUNCTION_LINES: Final = 80

#: Receivers through which a class may use its own underscore names.
OWN: Final = frozenset({"self", "cls"})

#: The layers, bottom first: a module may import the emulator's packages of its own
#: layer or below, never above.  Every top-level package and module of ``emulator`` is
#: placed here (a new one must be).
LAYERS: Final[tuple[frozenset[str], ...]] = (
    frozenset({"golang"}),  # what Go does; imports nothing of the emulator
    frozenset({"errors", "hints", "clock", "protocol", "vocabulary", "tempdirs"}),  # pure
    frozenset({"matching", "journal", "journal_assertions", "discovery", "faults"}),
    frozenset({"transport", "mocks"}),  # trio I/O: the plugin client; mock plugins
    frozenset({"engine", "runtime"}),  # dockerd's state machines; the container runtime
    frozenset(  # the fronts
        {"api", "check", "cli", "scenario", "testing", "pytest_plugin", "__main__"}
    ),
)
RANK: Final = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _modules() -> Iterator[tuple[str, ast.Module, int]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        yield str(path.relative_to(PACKAGE.parent)), ast.parse(text), len(text.splitlines())


def _is_own(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in OWN
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
        and not node.args
    )


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_accesses(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Each place ``tree`` uses an underscore name that is not its own: (line, text)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and not _is_own(node.value):
            yield node.lineno, f"{ast.unparse(node.value)}.{node.attr}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name):
                    yield node.lineno, f"from {node.module} import {alias.name}"


def test_the_checker_sees_what_it_must() -> None:
    """The AST rule itself: what counts as reaching in, and what does not."""
    source = """
from os import _exit
def f(service, self):
    self._a = 1
    super()._b()
    service._c()
    self.x._d
    cls._e
    obj.__class__
"""
    found = sorted(text for _line, text in private_accesses(ast.parse(source)))
    assert found == ["from os import _exit", "self.x._d", "service._c"]


def test_no_access_to_another_objects_underscore_names() -> None:
    found = [
        f"{name}:{line}: {text}"
        for name, tree, _lines in _modules()
        for line, text in private_accesses(tree)
    ]
    assert found == [], "give the owner a public method for each:\n" + "\n".join(found)


def test_no_module_over_the_line_budget() -> None:
    over = [f"{name}: {lines}" for name, _tree, lines in _modules() if lines > MODULE_LINES]
    assert over == [], f"modules over {MODULE_LINES} lines:\n" + "\n".join(over)


def test_no_function_over_the_line_budget() -> None:
    over = [
        f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1}"
        for name, tree, _lines in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > FUNCTION_LINES
    ]
    assert over == [], f"functions over {FUNCTION_LINES} lines:\n" + "\n".join(over)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "emulator" and len(parts) > 1 else None


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def test_every_package_has_a_layer() -> None:
    names = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert names - set(RANK) == set()


def test_imports_point_down() -> None:
    wrong = []
    for name, tree, _lines in _modules():
        layer = _layer(name.removesuffix(".py").replace("/", "."))
        if layer is None or layer == "__init__":
            continue
        for line, target in _imports(tree):
            imported = _layer(target)
            if imported is not None and RANK[imported] > RANK[layer]:
                wrong.append(f"{name}:{line}: {layer} imports {target}")
    assert wrong == [], "imports that point up (see LAYERS):\n" + "\n".join(sorted(wrong))

"""Every module says what it offers in ``__all__``, and says it exactly (as httpx's test_exported_members).

Exact: ``__all__`` names only what the module defines, and everything public it defines (top-level
functions, classes and assignments whose names do not start with ``_``), except its logger and type
variables. A name in ``__all__`` that the module lacks, or a public definition missing from it, fails.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import whisperd

_NOT_API = {"logger", "log", "T"}


def _modules() -> list[str]:
    names = ["whisperd"]
    for info in pkgutil.walk_packages(whisperd.__path__, "whisperd."):
        names.append(info.name)
    return sorted(names)


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") and n not in _NOT_API}


@pytest.mark.parametrize("name", _modules())
def test_all_is_exact(name: str) -> None:
    module = importlib.import_module(name)
    path = Path(module.__file__ or "")
    exported = getattr(module, "__all__", None)
    defined = _defined(path)
    if path.name == "__init__.py" and not defined and exported is None:
        return  # a package marker
    assert exported is not None, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
    unlisted = sorted(defined - set(exported))
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"
    foreign = sorted(n for n in set(exported) - defined if not (n.startswith("__") and n.endswith("__")))
    assert not foreign, f"{name}.__all__ lists names it only imports: {foreign}"

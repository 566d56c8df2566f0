"""What a user may import: every public module says so with ``__all__``, and nothing it lists is missing."""

from __future__ import annotations

import importlib
import pkgutil
from typing import List

import pytest

import otel_scoring


def _public_modules() -> List[str]:
    names = ["otel_scoring"]
    for info in pkgutil.walk_packages(otel_scoring.__path__, "otel_scoring."):
        parts = info.name.split(".")
        if not any(part.startswith("_") for part in parts):  # __main__ and _internal ones alike
            names.append(info.name)
    return sorted(names)


def test_the_package_has_public_and_internal_modules() -> None:
    """The walk below really sees the package: its public modules, and none of the internal ones."""
    modules = _public_modules()
    assert {"otel_scoring.processor", "otel_scoring.store", "otel_scoring.receiver", "otel_scoring.forward.phoenix"} <= set(modules)
    assert not [name for name in modules if "._" in name]


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_module_declares_what_it_exports(module_name: str) -> None:
    """A public module lists its API in ``__all__``, every listed name exists, and a star import gives exactly those."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, (list, tuple)) and exported, f"{module_name} declares no __all__"
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ lists a name twice"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ lists names it does not define: {missing}"
    namespace: dict = {}
    exec(f"from {module_name} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(exported)


def test_every_name_the_package_root_lists_imports_as_its_own_object() -> None:
    """``from otel_scoring import X`` works for every name the root lists, each the same object its module exports."""
    for name in otel_scoring.__all__:
        value = getattr(otel_scoring, name)
        home = importlib.import_module(value.__module__)
        assert getattr(home, name) is value

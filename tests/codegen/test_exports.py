from __future__ import annotations

import importlib

import pytest

PACKAGES = ["codegen", "runtime.db", "runtime.fakehub", "runtime.simulator"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name):
    package = importlib.import_module(name)
    public = sorted(
        n
        for n, v in vars(package).items()
        if not n.startswith("_")
        and not hasattr(v, "__path__")
        and getattr(v, "__module__", name).startswith(name + ".")
    )
    assert package.__all__ == sorted(package.__all__)
    assert set(public) <= set(package.__all__), "imported but not exported"
    assert all(hasattr(package, name) for name in package.__all__), "exported but missing"

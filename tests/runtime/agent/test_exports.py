from __future__ import annotations

import runtime.agent


def test_all_is_sorted_and_complete():
    package = runtime.agent
    public = sorted(
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not hasattr(value, "__path__")
        and getattr(value, "__module__", "").startswith("runtime.agent.")
    )
    assert package.__all__ == sorted(package.__all__)
    assert set(public) <= set(package.__all__), "imported but not exported"
    assert all(hasattr(package, name) for name in package.__all__), "exported but missing"

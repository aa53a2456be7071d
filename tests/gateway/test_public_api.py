"""The public names of the runtime modules built here exist, and nothing private leaks."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["runtime.gateway", "runtime.config", "runtime.ops.logs",
                                    "runtime.errors", "runtime.bot"])
def test_all_is_honest(module: str) -> None:
    """Every name in ``__all__`` exists and is public; the list has no duplicates."""
    mod = importlib.import_module(module)
    names = mod.__all__
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(mod, name), name
        assert not name.startswith("_"), name

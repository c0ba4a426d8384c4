"""A module proxy that imports on first attribute access (keeps start-up fast)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy"]


class _LazyModule:
    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)


def lazy(name: str) -> Any:
    """Return a stand-in for module ``name`` that imports it when first used.

    Examples
    --------
    >>> stats = lazy("scipy.stats")
    >>> round(float(stats.norm.ppf(0.975)), 2)
    1.96
    """
    return _LazyModule(name)

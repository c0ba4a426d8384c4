"""Bayesian network meta-analysis: every treatment against every other.

Public API (heavy modules load on first use)::

    from bayesmeta.network import fit_network, network_data
    res = fit_network(df, "MD", reference="placebo", tau_prior="halfnormal(1)")
    res.relative_effects(all_pairs=True); res.league_table(); res.sucra()
    res.prob_exceeds([-0.5], direction="less"); res.node_split()

See ``docs/network.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "NetworkData",
    "NetworkResult",
    "fit_network",
    "load_network",
    "network_data",
    "read_network_csv",
]

_LAZY = {
    "NetworkData": "bayesmeta.network.data",
    "network_data": "bayesmeta.network.data",
    "read_network_csv": "bayesmeta.network.data",
    "NetworkResult": "bayesmeta.network.result",
    "load_network": "bayesmeta.network.result",
    "fit_network": "bayesmeta.network.fit",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesmeta.network' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

"""Registry of candidate MCIDs (package data ``resources/mcid.toml``).

Examples
--------
>>> from bayesmeta import mcid
>>> mcid.get("smd-cohen").thresholds
(0.2, 0.5, 0.8)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pandas as pd

__all__ = ["Entry", "entries", "get", "table"]


@dataclass(frozen=True)
class Entry:
    """One registry entry."""

    name: str
    outcome: str
    scale: str
    kind: str
    direction: str
    thresholds: tuple[float, ...]
    labels: tuple[str, ...]
    population: str
    source: str


@cache
def entries() -> dict[str, Entry]:
    """All entries by name."""
    raw = tomllib.loads(resources.files("bayesmeta").joinpath("resources", "mcid.toml").read_text())
    out = {}
    for e in raw["entry"]:
        out[e["name"]] = Entry(
            **{**e, "thresholds": tuple(e["thresholds"]), "labels": tuple(e["labels"])}
        )
    return out


def get(name: str) -> Entry:
    """Return entry ``name``; only ``kind = "effect"`` entries serve as effect thresholds.

    Raises
    ------
    KeyError
        Unknown name, or a responder definition used as an effect threshold.
    """
    reg = entries()
    if name not in reg:
        raise KeyError(f"unknown MCID registry entry {name!r}; known: {', '.join(reg)}")
    entry = reg[name]
    if entry.kind != "effect":
        raise KeyError(
            f"{name!r} defines responders ({entry.scale}); it is not a threshold "
            "on an effect scale. Analyse the responder counts (RR/OR) with "
            "thresholds on the ratio instead"
        )
    return entry


def table() -> pd.DataFrame:
    """Return the registry as a table (``bayesmeta mcid list``)."""
    return pd.DataFrame(
        [
            {
                "name": e.name,
                "outcome": e.outcome,
                "scale": e.scale,
                "kind": e.kind,
                "direction": e.direction,
                "thresholds": ", ".join(f"{t:g}" for t in e.thresholds),
                "population": e.population,
                "source": e.source,
            }
            for e in entries().values()
        ]
    )

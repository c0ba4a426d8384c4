"""Bundled myositis datasets (``data/``), each with a provenance file beside it.

Examples
--------
>>> from bayesmeta import datasets
>>> datasets.load("ivig_tis20")[["events_t", "n_t", "events_c", "n_c"]].values.tolist()
[[37, 47, 21, 48]]
"""

from __future__ import annotations

import builtins
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["info", "list", "load", "names", "path"]


def _dir() -> Path:
    here = Path(__file__).resolve().parent / "resources" / "datasets"
    return here if here.is_dir() else Path(__file__).resolve().parents[1] / "data"


@cache
def names() -> builtins.list[str]:
    """Names of the bundled datasets."""
    return sorted(p.stem for p in _dir().glob("*.csv"))


def path(name: str) -> Path:
    """Path of a dataset's CSV file."""
    if name not in names():
        raise KeyError(f"unknown dataset {name!r}; bundled: {', '.join(names())}")
    return _dir() / f"{name}.csv"


def info(name: str) -> dict[str, Any]:
    """Provenance of a dataset (the TOML beside the CSV) plus its text as ``provenance``."""
    p = path(name).with_suffix(".toml")
    text = p.read_text()
    meta = tomllib.loads(text)
    meta["provenance"] = text
    return meta


def load(name: str) -> pd.DataFrame:
    """Read a dataset as a DataFrame in its canonical input shape."""
    return pd.read_csv(path(name), dtype={"study": str})


def list() -> pd.DataFrame:  # noqa: A001 - the issue names it datasets.list()
    """One row per dataset: name, measure, k, status and title."""
    rows = []
    for n in names():
        meta = info(n)
        rows.append(
            {
                "name": n,
                "measure": meta.get("measure", ""),
                "k": len(load(n)),
                "status": meta.get("status", ""),
                "title": meta.get("title", ""),
            }
        )
    return pd.DataFrame(rows)

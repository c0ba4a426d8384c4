"""Text and markdown reports of a :class:`~bayesmeta.network.result.NetworkResult`.

Numbers come from the result's tables; this module only formats them.

Examples
--------
>>> from bayesmeta import datasets
>>> from bayesmeta.network import fit_network
>>> res = fit_network(datasets.load("parkinsons_tsd2"), "MD", reference="placebo",
...                   model="fixed")
>>> print(text(res).splitlines()[0])
Network meta-analysis: MD, fixed effect, normal likelihood (exact engine)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["markdown", "text"]


#: Monte Carlo columns of NUTS tables shown as whole numbers (effective sample sizes).
_WHOLE = ("ess_bulk", "ess_tail")


def _fmt(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Format numbers for printing: ``digits`` decimals, ESS whole, missing values blank."""

    def one(v: object, d: int) -> object:
        if not isinstance(v, float):
            return v
        return "" if v != v else f"{v:.{d}f}"

    return df.apply(lambda col: col.map(lambda v: one(v, 0 if col.name in _WHOLE else digits)))


def _header(res: Any) -> list[str]:
    d = res.describe()
    effects = "random effects" if res.model == "random" else "fixed effect"
    lines = [
        f"Network meta-analysis: {d['measure']}, {effects}, {d['likelihood']} likelihood "
        f"({d['engine']} engine)",
        f"{d['studies']} stud{'y' if d['studies'] == 1 else 'ies'}, "
        f"{len(d['treatments'])} treatments; reference: {d['reference']}",
        "priors: " + ", ".join(f"{k} ~ {v}" for k, v in d["priors"].items() if v != "None"),
        f"intervals: {d['interval']} (mean, sd, median, lower, upper)",
    ]
    if res.is_ratio:
        lines.append("effects on the natural scale (ratios); tau on the log scale")
    lines += [f"note: {n}" for n in res.notes]
    return lines


def _sections(res: Any, mcid: Sequence[float], direction: str) -> list[tuple[str, pd.DataFrame]]:
    scale = "natural"
    out = [
        ("Relative effects against the reference", res.relative_effects(scale=scale)),
        ("Prediction for a new study", res.predict(scale=scale)),
        ("Heterogeneity", res.heterogeneity()),
        ("SUCRA (with its interval) and P(best)", res.sucra()),
        ("Rank probabilities", res.ranks()),
        ("League table (row vs column: median, interval)", res.league_table(scale=scale)),
    ]
    if mcid:
        word = "above" if direction == "greater" else "below"
        out.append(
            (
                f"MCID probabilities (effect {word} each threshold)",
                res.prob_exceeds(list(mcid), direction=direction),
            ),
        )
    if res.consistency == "nodesplit" or res.splits:
        out.append(("Node-splitting (analysis scale)", res.node_split()))
    if res.consistency == "ume" or res.ume is not None:
        out.append(("Unrelated mean effects", res.unrelated_effects(scale=scale)))
    return out


def text(res: Any, mcid: Sequence[float] = (), direction: str = "greater") -> str:
    """Plain-text report."""
    parts = ["\n".join(_header(res))]
    for title, df in _sections(res, mcid, direction):
        parts.append(f"{title}\n{_fmt(df).to_string()}")
    return "\n\n".join(parts) + "\n"


def markdown(res: Any, mcid: Sequence[float] = (), direction: str = "greater") -> str:
    """Markdown report (headings and pipe tables)."""
    head = _header(res)
    parts = [f"# {head[0]}", "\n".join(f"- {h}" for h in head[1:])]
    for title, df in _sections(res, mcid, direction):
        parts.append(f"## {title}\n\n{_fmt(df).to_markdown() if _has_tabulate() else _pipe(df)}")
    return "\n\n".join(parts) + "\n"


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _pipe(df: pd.DataFrame) -> str:
    df = _fmt(df).reset_index()
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) for v in r.to_numpy()) + " |")
    return "\n".join(lines)

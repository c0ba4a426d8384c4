"""The input shapes and measures, as plain data (no heavy imports: the CLI's --help uses it).

``t`` is the experimental arm, ``c`` the control arm.
"""

from __future__ import annotations

__all__ = ["MEASURES", "RATIO_MEASURES", "SHAPES", "describe"]

#: Canonical columns of each input shape.
SHAPES: dict[str, tuple[str, ...]] = {
    "continuous": ("study", "mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "binary": ("study", "events_t", "n_t", "events_c", "n_c"),
    "estimate (se)": ("study", "estimate", "se"),
    "estimate (ci)": ("study", "estimate", "ci_lower", "ci_upper"),
}

#: Measures available for each kind of input.
MEASURES: dict[str, tuple[str, ...]] = {
    "continuous": ("MD", "SMD"),
    "binary": ("OR", "RR", "RD"),
    "estimate": ("MD", "SMD", "OR", "RR", "HR", "RD", "GEN"),
}

#: Measures analysed on the log scale; reported estimates and CIs are given as ratios.
RATIO_MEASURES = frozenset({"OR", "RR", "HR"})


def describe() -> str:
    """Describe the input shapes as text, for ``--help``.

    Examples
    --------
    >>> print(describe().splitlines()[0])
    CSV columns (one row per study; _t = experimental arm, _c = control arm):
    """
    lines = ["CSV columns (one row per study; _t = experimental arm, _c = control arm):"]
    for name, cols in SHAPES.items():
        kind = name.split()[0]
        lines.append(f"  {name:<14} {', '.join(cols)}   (measures: {', '.join(MEASURES[kind])})")
    lines += [
        "  estimate (ci) may add ci_level (default 0.95); ratios (OR, RR, HR) are given as",
        "  ratios, not logs. metafor's names (ai, bi, ci, di, n1i, n2i, m1i, sd1i, m2i, sd2i,",
        "  yi, vi, sei, slab) are recognised. Any other column (year, latitude, risk of",
        "  bias, ...) is kept as a study-level covariate. Semicolon-separated files with",
        "  decimal commas are read too.",
    ]
    return "\n".join(lines)

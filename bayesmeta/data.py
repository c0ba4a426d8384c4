"""Input tables -> validated :class:`StudyData`.

Three input shapes are recognised from canonical column names (``t`` is the
experimental arm, ``c`` the control arm):

=================  ==========================================================
shape              columns
=================  ==========================================================
continuous arms    ``study, mean_t, sd_t, n_t, mean_c, sd_c, n_c``
binary arms        ``study, events_t, n_t, events_c, n_c``
reported estimate  ``study, estimate, se`` or ``study, estimate, ci_lower,
                   ci_upper`` (optional ``ci_level``, default 0.95)
=================  ==========================================================

R metafor's ``escalc`` argument names are accepted as well and mapped to the canonical
columns (:data:`METAFOR_NAMES`):

=========================  ===============================================================
metafor                    canonical
=========================  ===============================================================
``slab``                   ``study``
``ai``, ``ci``             ``events_t``, ``events_c`` (events, experimental / control)
``n1i``, ``n2i``           ``n_t``, ``n_c`` (binary or continuous arms)
``bi``, ``di``             non-events: ``n_t = ai + bi``, ``n_c = ci + di``
``m1i``, ``sd1i``          ``mean_t``, ``sd_t``
``m2i``, ``sd2i``          ``mean_c``, ``sd_c``
``yi``                     ``estimate``, but on the *analysis* scale: for OR, RR and HR
                           ``yi`` is a log ratio and ``estimate = exp(yi)``
``sei``                    ``se``
``vi``                     ``se = sqrt(vi)``
=========================  ===============================================================

A metafor name and the canonical name of the same column in one table (``n1i`` and
``n_t``, ``bi`` and ``n1i``, ``vi`` and ``sei``, ``yi`` and ``estimate``) is an error, and
so is ``yi`` with ``ci_lower``/``ci_upper`` (the limits would be on another scale).

Headers are normalised first: surrounding whitespace stripped and lower-cased
(``" Events_T "`` -> ``events_t``). Columns that are not part of the detected shape
(year, risk of bias, subgroup, ...) are study-level covariates, kept unchanged in
:attr:`StudyData.covariates`.

Every problem raises :class:`DataError` naming the study and the column; nothing
is dropped silently.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bayesmeta import effects
from bayesmeta.errors import DataError, DataWarning  # one definition for every layer

__all__ = [
    "MEASURES",
    "METAFOR_NAMES",
    "RATIO_MEASURES",
    "SHAPES",
    "DataError",
    "DataWarning",
    "StudyData",
    "effect_sizes",
    "read_csv",
    "study_data",
]

Kind = Literal["continuous", "binary", "estimate"]

#: Canonical columns of each input shape.
SHAPES: dict[str, tuple[str, ...]] = {
    "continuous": ("study", "mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "binary": ("study", "events_t", "n_t", "events_c", "n_c"),
    "estimate (se)": ("study", "estimate", "se"),
    "estimate (ci)": ("study", "estimate", "ci_lower", "ci_upper"),
}
_OPTIONAL = {"estimate (ci)": ("ci_level",), "estimate (se)": ()}

#: R metafor (``escalc``) column names and the canonical column each one gives. ``bi`` and
#: ``di`` are non-events (``n_t = ai + bi``), ``vi`` a variance (``se = sqrt(vi)``) and ``yi``
#: an estimate on the analysis scale (log scale for OR, RR and HR).
METAFOR_NAMES: dict[str, str] = {
    "slab": "study",
    "ai": "events_t",
    "bi": "n_t",
    "ci": "events_c",
    "di": "n_c",
    "n1i": "n_t",
    "n2i": "n_c",
    "m1i": "mean_t",
    "sd1i": "sd_t",
    "m2i": "mean_c",
    "sd2i": "sd_c",
    "yi": "estimate",
    "sei": "se",
    "vi": "se",
}
_CANONICAL = frozenset(c for cols in SHAPES.values() for c in cols) | {"ci_level"}
#: metafor names that belong to each kind of input; elsewhere they are covariates.
_METAFOR_BY_KIND = {
    "binary": frozenset({"slab", "ai", "bi", "ci", "di", "n1i", "n2i"}),
    "continuous": frozenset({"slab", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"}),
    "estimate": frozenset({"slab", "yi", "sei", "vi"}),
}
#: metafor names that are not a plain rename: the non-events per arm and their events column.
_NON_EVENTS = {"bi": "events_t", "di": "events_c"}

#: Measures available for each kind of input.
MEASURES: dict[str, tuple[str, ...]] = {
    "continuous": ("MD", "SMD"),
    "binary": ("OR", "RR", "RD"),
    "estimate": ("MD", "SMD", "OR", "RR", "HR", "RD", "GEN"),
}
#: Measures analysed on the log scale; reported estimates and CIs are given as ratios.
RATIO_MEASURES = frozenset({"OR", "RR", "HR"})

MEASURE_LABELS = {
    "MD": "mean difference",
    "SMD": "standardised mean difference (Hedges' g)",
    "OR": "odds ratio",
    "RR": "risk ratio",
    "HR": "hazard ratio",
    "RD": "risk difference",
    "GEN": "generic effect",
}

_COUNT_COLUMNS = ("n_t", "n_c", "events_t", "events_c")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_DECIMAL_COMMA_HINT = (
    "looks like a decimal comma; use a semicolon-separated file (read with decimal commas) "
    "or decimal points"
)


def _expected_text() -> str:
    return "; ".join(f"{name}: {', '.join(cols)}" for name, cols in SHAPES.items())


def _metafor_text() -> str:
    return (
        "metafor names are accepted too: ai, bi, ci, di or ai, n1i, ci, n2i; "
        "m1i, sd1i, n1i, m2i, sd2i, n2i; yi with vi or sei; slab"
    )


def _close(name: str, candidates: list[str], cutoff: float = 0.6) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=3, cutoff=cutoff)


def _normalise_headers(df: pd.DataFrame, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """Rename with ``columns``, then strip and lower-case every header; collisions are errors."""
    original = [str(c) for c in df.columns]
    if columns:
        cmap = {str(k): str(v) for k, v in columns.items()}
        cmap_norm = {k.strip().lower(): v for k, v in cmap.items()}
        renamed = [cmap.get(c, cmap_norm.get(c.strip().lower(), c)) for c in original]
    else:
        renamed = original
    normal = [c.strip().lower() for c in renamed]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(normal):
        groups.setdefault(name, []).append(i)
    for name, idx in groups.items():
        if len(idx) < 2:
            continue
        shown = [original[i] for i in idx]
        if len(set(shown)) == 1:
            raise DataError(f"duplicate column name(s) {shown[0]!r}")
        both = " and ".join(map(repr, shown))
        raise DataError(
            f"columns {both} both become {name!r} after normalising headers (whitespace "
            "stripped, lower case); rename or drop one of them"
        )
    empty = [i + 1 for i, name in enumerate(normal) if not name]
    if empty:
        raise DataError(f"column {empty[0]} has an empty header; every column needs a name")
    return df.set_axis(normal, axis=1)


def _target(col: str, kind: str | None = None) -> str | None:
    """Canonical column a (normalised) header stands for, or None for a covariate.

    With ``kind``, only the metafor names of that kind of input count.
    """
    if col in _CANONICAL:
        return col
    if kind is not None and col not in _METAFOR_BY_KIND[kind]:
        return None
    return METAFOR_NAMES.get(col)


def _detect_shape(columns: list[str]) -> str:
    targets = {t for c in columns if (t := _target(c)) is not None}
    if "estimate" in targets:
        has_se = "se" in targets
        has_ci = bool({"ci_lower", "ci_upper"} & targets)
        if has_se and has_ci:
            raise DataError(
                "give either 'se' or 'ci_lower'/'ci_upper' for reported estimates, not both"
            )
        return "estimate (ci)" if has_ci else "estimate (se)"
    binary = len({"events_t", "events_c"} & targets) / 2
    continuous = len({"mean_t", "mean_c", "sd_t", "sd_c"} & targets) / 4
    if binary or continuous:
        return "binary" if binary >= continuous else "continuous"
    known = sorted(_CANONICAL | set(METAFOR_NAMES))
    hints = [
        f"{c!r} -> {', '.join(map(repr, m))}"
        for c in columns
        if c not in known and (m := _close(c, known, 0.75))
    ]
    did_you_mean = f" Did you mean: {'; '.join(hints)}?" if hints else ""
    raise DataError(
        f"cannot recognise the input shape from columns {sorted(columns)}; expected one of: "
        f"{_expected_text()} ({_metafor_text()}).{did_you_mean}"
    )


@dataclass
class _Layout:
    """Where each canonical column of the detected shape comes from."""

    shape: str
    source: dict[str, str]  # canonical -> input column
    extras: list[str]  # covariate columns, input order


def _layout(columns: list[str], shape: str) -> _Layout:
    required = SHAPES[shape]
    optional = _OPTIONAL.get(shape, ())
    wanted = set(required) | set(optional)
    kind = "estimate" if shape.startswith("estimate") else shape
    found: dict[str, list[str]] = {}
    extras = []
    for c in columns:
        t = _target(c, kind)
        if t in wanted:
            found.setdefault(t, []).append(c)
        else:
            extras.append(c)
    for canon, cols in found.items():
        if len(cols) > 1:
            both = " and ".join(map(repr, cols))
            raise DataError(
                f"columns {both} both give {canon!r} (metafor and canonical names for the "
                "same column, see bayesmeta.data.METAFOR_NAMES); keep only one of them"
            )
    source = {canon: cols[0] for canon, cols in found.items()}
    if source.get("estimate") == "yi" and ({"ci_lower", "ci_upper"} & set(source)):
        raise DataError(
            "'yi' (metafor, on the analysis scale) cannot be combined with "
            "'ci_lower'/'ci_upper'; give 'yi' with 'vi' or 'sei', or 'estimate' with the CI"
        )
    missing = [c for c in required if c not in source]
    for col, events in _NON_EVENTS.items():
        if source.get(METAFOR_NAMES[col]) == col and events not in source:
            missing.append(events)  # bi without ai: n_t = ai + bi needs the events
    if missing:
        hints = []
        for m in missing:
            names = [m] + [a for a, t in METAFOR_NAMES.items() if t == m and _target(a, kind)]
            close = sorted({x for name in names for x in _close(name, extras)})
            if close:
                hints.append(f"{' or '.join(map(repr, close))} for {m!r}")
        did_you_mean = f" Did you mean {'; '.join(hints)}?" if hints else ""
        others = f" Other columns: {', '.join(map(repr, extras))}." if extras else ""
        extra = f" (optional: {', '.join(optional)})" if optional else ""
        raise DataError(
            f"missing column(s) {', '.join(map(repr, dict.fromkeys(missing)))} for {shape} data; "
            f"expected columns: {', '.join(required)}{extra}.{did_you_mean}{others} "
            "Rename columns with columns={...}."
        )
    return _Layout(shape=shape, source=source, extras=extras)


def _fmt(x: object) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def _study_labels(df: pd.DataFrame, col: str = "study") -> list[str]:
    labels = []
    for row, value in enumerate(df[col].tolist(), start=1):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            raise DataError(
                f"row {row}: column {col!r} is missing (NaN); every study needs a label"
            )
        text = str(value).strip()
        if not text:
            raise DataError(f"row {row}: column {col!r} is empty; every study needs a label")
        labels.append(text)
    seen: dict[str, int] = {}
    dups = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] == 2:
            dups.append(lab)
    if dups:
        raise DataError(
            f"duplicate study label(s) {', '.join(map(repr, dups))} in column {col!r}; "
            "labels must be unique"
        )
    return labels


def _numeric_column(
    df: pd.DataFrame, col: str, labels: list[str], *, count: bool | None = None
) -> np.ndarray:
    """Column ``col`` as floats; ``count`` (default: a canonical count column) wants integers."""
    if count is None:
        count = col in _COUNT_COLUMNS
    series = df[col]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        fast = series.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(fast).all()
        if ok and count:
            ok = bool((fast == np.round(fast)).all())
        if ok:
            return fast
    raw = series.tolist()
    out = np.empty(len(raw))
    for i, value in enumerate(raw):
        where = f"study '{labels[i]}': column '{col}'"
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            raise DataError(f"{where} is missing (NaN)")
        if isinstance(value, bool | np.bool_):
            raise DataError(f"{where} is not a number ({value!r})")
        try:
            num = float(value)
        except (TypeError, ValueError):
            hint = ""
            if isinstance(value, str) and _DECIMAL_COMMA.match(value):
                hint = (
                    f"; {value.strip()!r} {_DECIMAL_COMMA_HINT} ({value.strip().replace(',', '.')})"
                )
            raise DataError(f"{where} is not a number ({value!r}){hint}") from None
        if np.isnan(num):
            raise DataError(f"{where} is missing (NaN)")
        if not np.isfinite(num):
            raise DataError(f"{where} is not finite ({value!r})")
        if count and not num.is_integer():
            raise DataError(f"{where} ({_fmt(num)}) is not a whole number")
        out[i] = num
    return out


def _fail_where(mask: np.ndarray, labels: list[str], message: Callable[[int], str]) -> None:
    idx = np.flatnonzero(mask)
    if idx.size:
        i = int(idx[0])
        raise DataError(f"study '{labels[i]}': {message(i)}")


def _canonical_values(
    df: pd.DataFrame, layout: _Layout, labels: list[str], measure: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Numeric canonical columns from the input columns, and each one's display name.

    metafor's ``bi``/``di`` become arm sizes, ``vi`` an SE and ``yi`` (analysis scale) the
    reported estimate (a ratio for OR, RR and HR), each checked first.
    """
    ordered = [c for c in SHAPES[layout.shape] + _OPTIONAL.get(layout.shape, ()) if c != "study"]
    present = [c for c in ordered if c in layout.source]
    # events first: the arm sizes n_t = ai + bi need them
    present.sort(key=lambda c: c not in ("events_t", "events_c"))
    values: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for canon in present:
        col = layout.source[canon]
        if col in _NON_EVENTS:
            events = _NON_EVENTS[col]
            x = _numeric_column(df, col, labels, count=True)
            _fail_where(x < 0, labels, lambda i, x=x, c=col: f"{c} ({_fmt(x[i])}) must be >= 0")
            values[canon] = values[events] + x
            names[canon] = f"{canon} ({names[events]} + {col})"
        elif col == "vi":
            x = _numeric_column(df, col, labels, count=False)
            _fail_where(x <= 0, labels, lambda i, x=x: f"vi ({_fmt(x[i])}) must be > 0")
            values[canon] = np.sqrt(x)
            names[canon] = "vi"
        elif col == "yi" and measure in RATIO_MEASURES:
            x = _numeric_column(df, col, labels, count=False)
            with np.errstate(over="ignore", under="ignore"):
                ratio = np.exp(x)
            _fail_where(
                ~np.isfinite(ratio) | (ratio <= 0),
                labels,
                lambda i, x=x: (
                    f"yi ({_fmt(x[i])}) is not a usable log {MEASURE_LABELS[measure]}: its "
                    "exponential over- or underflows (yi is on the log scale for "
                    f"{measure}; give the log ratio, not the ratio)"
                ),
            )
            values[canon] = ratio
            names[canon] = "yi"
        else:
            values[canon] = _numeric_column(df, col, labels, count=canon in _COUNT_COLUMNS)
            names[canon] = col
    return {c: values[c] for c in ordered if c in values}, names


def _validate_values(
    v: dict[str, np.ndarray],
    labels: list[str],
    kind: Kind,
    measure: str,
    names: Mapping[str, str] | None = None,
) -> None:
    nm = {c: c for c in v} | dict(names or {})
    if kind == "continuous":
        n_min = 2 if measure == "SMD" else 1
        for arm in ("t", "c"):
            sd, n = v[f"sd_{arm}"], v[f"n_{arm}"]
            sd_name, n_name = nm[f"sd_{arm}"], nm[f"n_{arm}"]
            _fail_where(
                sd <= 0, labels, lambda i, sd=sd, s=sd_name: f"{s} ({_fmt(sd[i])}) must be > 0"
            )
            _fail_where(
                n < n_min,
                labels,
                lambda i, n=n, s=n_name: (
                    f"{s} ({_fmt(n[i])}) must be >= {n_min}" + (" for SMD" if n_min == 2 else "")
                ),
            )
    elif kind == "binary":
        for arm in ("t", "c"):
            ev, n = v[f"events_{arm}"], v[f"n_{arm}"]
            ev_name, n_name = nm[f"events_{arm}"], nm[f"n_{arm}"]
            _fail_where(n < 1, labels, lambda i, n=n, s=n_name: f"{s} ({_fmt(n[i])}) must be >= 1")
            _fail_where(
                ev < 0, labels, lambda i, ev=ev, s=ev_name: f"{s} ({_fmt(ev[i])}) must be >= 0"
            )
            _fail_where(
                ev > n,
                labels,
                lambda i, ev=ev, n=n, s=ev_name, t=n_name: (
                    f"{s} ({_fmt(ev[i])}) > {t} ({_fmt(n[i])})"
                ),
            )
    else:
        est = v["estimate"]
        ratio = measure in RATIO_MEASURES
        if ratio:
            _fail_where(
                est <= 0,
                labels,
                lambda i: (
                    f"estimate ({_fmt(est[i])}) must be > 0 for a ratio measure ({measure}); "
                    "give the ratio itself, not its logarithm"
                ),
            )
        if "se" in v:
            se = v["se"]
            _fail_where(se <= 0, labels, lambda i: f"{nm['se']} ({_fmt(se[i])}) must be > 0")
        else:
            lo, hi = v["ci_lower"], v["ci_upper"]
            if ratio:
                _fail_where(
                    lo <= 0,
                    labels,
                    lambda i: (
                        f"ci_lower ({_fmt(lo[i])}) must be > 0 for a ratio measure ({measure})"
                    ),
                )
            _fail_where(
                lo >= hi,
                labels,
                lambda i: f"ci_lower ({_fmt(lo[i])}) must be < ci_upper ({_fmt(hi[i])})",
            )
            _fail_where(
                (est < lo) | (est > hi),
                labels,
                lambda i: (
                    f"estimate ({_fmt(est[i])}) lies outside its CI "
                    f"(ci_lower {_fmt(lo[i])} to ci_upper {_fmt(hi[i])})"
                ),
            )
            if "ci_level" in v:
                lev = v["ci_level"]
                _fail_where(
                    (lev <= 0) | (lev >= 1),
                    labels,
                    lambda i: f"ci_level ({_fmt(lev[i])}) must be between 0 and 1 (e.g. 0.95)",
                )


def _normalise_measure(measure: str, kind: Kind) -> str:
    if not isinstance(measure, str):
        raise DataError(f"measure must be a string, got {measure!r}")
    m = measure.strip().upper()
    valid = MEASURES[kind]
    if m not in valid:
        every = sorted({x for ms in MEASURES.values() for x in ms})
        if m not in every:
            raise DataError(f"unknown measure {measure!r}; valid measures: {', '.join(every)}")
        raise DataError(
            f"measure {m!r} does not apply to {kind} data; valid for {kind} data: "
            f"{', '.join(valid)}"
        )
    return m


def _inputs_of(kind: Kind, measure: str, v: Mapping[str, np.ndarray]) -> tuple[list, list]:
    """Input columns that the effect size and its variance are computed from."""
    if kind == "continuous":
        means, spread = ["mean_t", "mean_c"], ["sd_t", "n_t", "sd_c", "n_c"]
        return (means + spread, means + spread) if measure == "SMD" else (means, spread)
    if kind == "binary":
        cells = ["events_t", "n_t", "events_c", "n_c"]
        return cells, cells
    spread = ["se"] if "se" in v else [c for c in ("ci_lower", "ci_upper", "ci_level") if c in v]
    return ["estimate"], spread


def _compute_effects(
    v: dict[str, np.ndarray],
    kind: Kind,
    measure: str,
    labels: list[str] | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Effect sizes and variances; a non-finite yi or vi (or vi <= 0) is a DataError."""
    with np.errstate(all="ignore"):
        yi, vi = _raw_effects(v, kind, measure)
    labels = labels if labels is not None else [str(i + 1) for i in range(len(yi))]
    nm = {c: c for c in v} | dict(names or {})
    y_cols, v_cols = _inputs_of(kind, measure, v)

    def shown(cols: list[str], i: int) -> str:
        return ", ".join(f"{nm[c]} ({_fmt(float(v[c][i]))})" for c in cols)

    label = MEASURE_LABELS[measure] + (" (log scale)" if measure in RATIO_MEASURES else "")
    _fail_where(
        ~np.isfinite(yi),
        labels,
        lambda i: (
            f"the {label} is not finite (overflow) when computed from {shown(y_cols, i)}; "
            "check these columns"
        ),
    )
    _fail_where(
        ~np.isfinite(vi),
        labels,
        lambda i: (
            f"the sampling variance of the {label} is not finite (overflow) when computed "
            f"from {shown(v_cols, i)}; "
            "check these columns"
        ),
    )
    _fail_where(
        vi <= 0,
        labels,
        lambda i: (
            f"the sampling variance of the {label} underflows to 0 when computed from "
            f"{shown(v_cols, i)}; check these columns"
        ),
    )
    # the models square and sum these numbers: beyond these bounds they overflow (no
    # meta-analysis has effects of 1e100 or variances of 1e200)
    _fail_where(
        np.abs(yi) > MAX_ABS_EFFECT,
        labels,
        lambda i: (
            f"the {label} ({_fmt(float(yi[i]))}, from {shown(y_cols, i)}) is too large to "
            f"analyse (|value| > {MAX_ABS_EFFECT:g}); check these columns"
        ),
    )
    _fail_where(
        (vi > MAX_VARIANCE) | (vi < 1 / MAX_VARIANCE),
        labels,
        lambda i: (
            f"the sampling variance of the {label} ({_fmt(float(vi[i]))}, from "
            f"{shown(v_cols, i)}) is outside what can be analysed ({1 / MAX_VARIANCE:g} to "
            f"{MAX_VARIANCE:g}); check these columns"
        ),
    )
    return yi, vi


#: Largest |effect size| the models can square and sum without overflow.
MAX_ABS_EFFECT = 1e100
#: Sampling variances must lie in [1 / MAX_VARIANCE, MAX_VARIANCE].
MAX_VARIANCE = 1e200


def _raw_effects(
    v: dict[str, np.ndarray], kind: Kind, measure: str
) -> tuple[np.ndarray, np.ndarray]:
    if kind == "continuous":
        args = [v[c] for c in SHAPES["continuous"][1:]]
        fn = effects.mean_difference if measure == "MD" else effects.standardized_mean_difference
        return fn(*args)
    if kind == "binary":
        args = [v[c] for c in SHAPES["binary"][1:]]
        fn = {
            "OR": effects.log_odds_ratio,
            "RR": effects.log_risk_ratio,
            "RD": effects.risk_difference,
        }[measure]
        return fn(*args)
    transform = np.log if measure in RATIO_MEASURES else (lambda x: x)
    yi = transform(v["estimate"])
    if "se" in v:
        se = v["se"]
    else:
        level = v.get("ci_level", np.full(len(yi), 0.95))
        se = effects.se_from_ci(transform(v["ci_lower"]), transform(v["ci_upper"]), level)
    return yi, se**2


def _warn_data(v: dict[str, np.ndarray], labels: list[str], kind: Kind, measure: str) -> None:
    if kind == "binary":
        both = (v["events_t"] == 0) & (v["events_c"] == 0)
        all_ = (v["events_t"] == v["n_t"]) & (v["events_c"] == v["n_c"])
        names = [labels[i] for i in np.flatnonzero(both | all_)]
        if names:
            warnings.warn(
                f"study {', '.join(map(repr, names))}: zero events in both arms (or events in "
                "every participant); the normal approximation uses 0.5 added to each cell and "
                "carries almost no information. The binomial-normal model "
                "(likelihood='binomial') uses these studies exactly.",
                DataWarning,
                stacklevel=4,
            )
    elif kind == "estimate" and "ci_lower" in v:
        transform = np.log if measure in RATIO_MEASURES else (lambda x: x)
        est, lo, hi = (transform(v[c]) for c in ("estimate", "ci_lower", "ci_upper"))
        lower_half, upper_half = est - lo, hi - est
        asym = np.abs(upper_half - lower_half) / (upper_half + lower_half)
        scale = "log" if measure in RATIO_MEASURES else "analysis"
        for i in np.flatnonzero(asym > 0.1):
            warnings.warn(
                f"study '{labels[i]}': the CI is clearly asymmetric on the {scale} scale "
                f"(half-widths {lower_half[i]:.3g} below and {upper_half[i]:.3g} above the "
                "estimate); the SE is taken from the full width. Check the measure "
                "(ratio vs difference) and the CI level.",
                DataWarning,
                stacklevel=4,
            )


def _no_covariates(k: int) -> pd.DataFrame:
    return pd.DataFrame(index=pd.RangeIndex(k))


@dataclass(frozen=True, eq=False)
class StudyData:
    """A validated table of trial data with its measure and per-study effect sizes.

    Build one with :func:`study_data` or :func:`read_csv`; fitting functions accept it
    directly.

    Attributes
    ----------
    table : pandas.DataFrame
        The input in canonical columns, numbers as floats, ``study`` as text.
    measure : str
        ``MD``, ``SMD``, ``OR``, ``RR``, ``HR``, ``RD`` or ``GEN``.
    kind : {"continuous", "binary", "estimate"}
        The input shape.
    effects : pandas.DataFrame
        Columns ``study, yi, vi, sei`` (ratio measures on the log scale).
    source : str or None
        Where the table came from (a path), for provenance.
    covariates : pandas.DataFrame
        Study-level covariates: every input column that is not part of the input shape
        (year, risk of bias, subgroup, ...), one row per study in input order, headers
        normalised, values and dtypes as given. No columns when there are none.

    Examples
    --------
    >>> import pandas as pd
    >>> sd = study_data(pd.DataFrame({"study": ["A", "B"], "estimate": [1.5, 2.0],
    ...                               "ci_lower": [1.0, 1.2], "ci_upper": [2.25, 3.3],
    ...                               "Year": [2001, 2015]}), "RR")
    >>> sd.k, sd.is_ratio, sd.covariates["year"].tolist()
    (2, True, [2001, 2015])
    """

    table: pd.DataFrame
    measure: str
    kind: Kind
    effects: pd.DataFrame
    source: str | None = field(default=None)
    covariates: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        k = len(self.effects)
        if self.covariates.shape[1] == 0 and len(self.covariates) != k:
            object.__setattr__(self, "covariates", _no_covariates(k))
        elif len(self.covariates) != k:
            raise ValueError(f"covariates have {len(self.covariates)} rows for {k} studies")

    @property
    def labels(self) -> list[str]:
        """Study labels in input order."""
        return self.effects["study"].tolist()

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.effects)

    @property
    def yi(self) -> np.ndarray:
        """Effect estimates on the analysis scale."""
        return self.effects["yi"].to_numpy(dtype=float)

    @property
    def vi(self) -> np.ndarray:
        """Sampling variances."""
        return self.effects["vi"].to_numpy(dtype=float)

    @property
    def sei(self) -> np.ndarray:
        """Standard errors."""
        return self.effects["sei"].to_numpy(dtype=float)

    @property
    def is_ratio(self) -> bool:
        """True for OR, RR and HR (analysed on the log scale)."""
        return self.measure in RATIO_MEASURES

    @property
    def measure_label(self) -> str:
        """Readable name of the measure."""
        return MEASURE_LABELS[self.measure]

    def subset(self, rows: list[int]) -> StudyData:
        """Return the studies at positions ``rows`` (with their covariates), validated."""
        idx = list(rows)
        table = self.table.iloc[idx].reset_index(drop=True)
        cov = self.covariates.iloc[idx].reset_index(drop=True)
        return study_data(pd.concat([table, cov], axis=1), self.measure, source=self.source)

    def sha256(self) -> str:
        """Digest of the canonical table and the covariates (full precision).

        A table without covariates has the same digest as before covariates existed.
        Computed once (StudyData is immutable).
        """
        return self._digest

    @cached_property
    def _digest(self) -> str:
        buf = io.StringIO()
        _canonical_csv(self.table, buf)
        if self.covariates.shape[1]:
            buf.write("# covariates\n")
            _canonical_csv(self.covariates, buf)
        return hashlib.sha256(buf.getvalue().encode()).hexdigest()

    def __repr__(self) -> str:
        return (
            f"StudyData(k={self.k}, measure={self.measure!r}, kind={self.kind!r}, "
            f"studies={self.labels!r})"
        )


def _canonical_csv(frame: pd.DataFrame, buf: io.StringIO) -> None:
    r"""Write ``frame.to_csv(index=False, float_format="%.17g", lineterminator="\\n")``.

    The text the digest is defined on. Plain float, integer and string columns are written
    here with the csv module pandas itself uses (about 10 times faster); any other column
    type goes through pandas. The tests check both give the same text.
    """
    cols = []
    for name in frame.columns:
        col = frame[name]
        kind = col.dtype.kind
        values = col.tolist()
        if kind == "f":
            # pandas applies float_format with %, so the same operator here
            cols.append(["" if v != v else "%.17g" % v for v in values])  # noqa: UP031
        elif kind in "iu":
            cols.append([str(v) for v in values])
        elif isinstance(col.dtype, pd.StringDtype) or (
            kind == "O" and all(isinstance(v, str) for v in values)
        ):
            cols.append(["" if not isinstance(v, str) else v for v in values])
        else:
            frame.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
            return
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([str(c) for c in frame.columns])
    writer.writerows(zip(*cols, strict=True))


def study_data(
    data: pd.DataFrame | StudyData,
    measure: str,
    *,
    columns: Mapping[str, str] | None = None,
    source: str | None = None,
) -> StudyData:
    """Validate a table of trial data and compute effect sizes.

    Parameters
    ----------
    data : pandas.DataFrame or StudyData
        One row per study in one of the shapes of :data:`SHAPES` (or with metafor's column
        names, :data:`METAFOR_NAMES`). Headers are stripped and lower-cased; columns that
        are not part of the shape are kept as study-level covariates.
    measure : str
        Effect measure (case-insensitive): ``MD``/``SMD`` for continuous arms,
        ``OR``/``RR``/``RD`` for binary arms, any of ``MD, SMD, OR, RR, HR, RD, GEN``
        for reported estimates (OR/RR/HR estimates and limits given as ratios; metafor's
        ``yi`` on the log scale).
    columns : mapping, optional
        Rename input columns to canonical names, e.g. ``{"trial": "study"}``.
    source : str, optional
        Where the data came from, kept for provenance.

    Returns
    -------
    StudyData

    Raises
    ------
    DataError
        For any invalid input; the message names the study and the column.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": ["A"], "events_t": [5], "n_t": [20],
    ...                    "events_c": [10], "n_c": [20]})
    >>> round(float(study_data(df, "OR").yi[0]), 4)
    -1.0986

    The same study with metafor's names (events and non-events per arm):

    >>> mf = pd.DataFrame({"slab": ["A"], "ai": [5], "bi": [15], "ci": [10], "di": [10]})
    >>> round(float(study_data(mf, "OR").yi[0]), 4)
    -1.0986
    """
    if isinstance(data, StudyData):
        if measure is not None and str(measure).strip().upper() != data.measure:
            new = study_data(data.table, measure, source=data.source)
            return dataclasses.replace(new, covariates=data.covariates)
        return data
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame or StudyData, got {type(data).__name__}")
    df = _normalise_headers(data, columns)
    cols = list(df.columns)
    shape = _detect_shape(cols)
    layout = _layout(cols, shape)
    kind: Kind = "estimate" if shape.startswith("estimate") else shape  # type: ignore[assignment]
    measure = _normalise_measure(measure, kind)
    if len(df) == 0:
        raise DataError("no studies: the table has no rows")
    labels = _study_labels(df, layout.source["study"])
    values, names = _canonical_values(df, layout, labels, measure)
    _validate_values(values, labels, kind, measure, names)
    yi, vi = _compute_effects(values, kind, measure, labels, names)
    _warn_data(values, labels, kind, measure)
    table = pd.DataFrame({"study": labels, **values})
    eff = pd.DataFrame({"study": labels, "yi": yi, "vi": vi, "sei": np.sqrt(vi)})
    if layout.extras:
        covariates = df[layout.extras].reset_index(drop=True)
    else:
        covariates = _no_covariates(len(df))
    return StudyData(
        table=table, measure=measure, kind=kind, effects=eff, source=source, covariates=covariates
    )


def _read_text(path: Path) -> str:
    """Contents of a CSV file as text; every problem is a DataError naming the file."""
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a CSV file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DataError(f"{path}: the file is empty")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: the file is UTF-16 text; save it as a UTF-8 CSV file")
    if b"\x00" in raw:
        raise DataError(f"{path}: looks like a binary file, not a CSV text file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        encoding = "Windows-1252"
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            encoding = "latin-1"
            text = raw.decode("latin-1")
        warnings.warn(
            f"{path}: not UTF-8 ({exc.reason} at byte {exc.start}); read as {encoding}. "
            "Check the study labels and save the file as UTF-8 to silence this warning.",
            DataWarning,
            stacklevel=3,
        )
    control = sum(1 for ch in text[:4096] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if control > 0.01 * min(len(text), 4096):
        raise DataError(f"{path}: looks like a binary file, not a CSV text file")
    return text


def _sniff_delimiter(header: str) -> str:
    """Delimiter that splits the header line into the most fields (ties: comma)."""
    best, fields = ",", 0
    for delim in (",", ";", "\t"):
        n = len(next(csv.reader([header], delimiter=delim), []))
        if n > fields:
            best, fields = delim, n
    return best


def _parse_csv(text: str, path: Path, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """Parse CSV text: delimiter from the header line, row widths checked, labels as text."""
    header_line = next(line for line in text.splitlines() if line.strip())
    delim = _sniff_delimiter(header_line)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    rows = [(reader.line_num, r) for r in reader if any(x.strip() for x in r)]
    header = rows[0][1]
    width = len(header)
    # a trailing delimiter gives trailing cells without a header: dropped when they are empty
    while (
        width
        and not header[width - 1].strip()
        and all(len(r) < width or not r[width - 1].strip() for _, r in rows[1:])
    ):
        width -= 1
    header = header[:width]
    for line_no, row in rows[1:]:
        cells = row[:]
        while len(cells) > width and not cells[-1].strip():
            cells.pop()
        if len(cells) > width:
            hint = ""
            if delim == "," and re.search(r"\d,\d", ",".join(cells)):
                hint = (
                    f"; if a number is written as 1,5 this {_DECIMAL_COMMA_HINT} (in a "
                    "comma-separated file 1,5 is split into two cells)"
                )
            raise DataError(
                f"{path}: line {line_no} has {len(cells)} fields but the header has {width}{hint}"
            )
    if len(set(header)) != width:
        dup = sorted({h for h in header if header.count(h) > 1})
        raise DataError(f"{path}: duplicate column name(s) {', '.join(map(repr, dup))}")
    cmap = {str(k).strip().lower(): str(v).strip().lower() for k, v in (columns or {}).items()}
    labels = [
        i
        for i, h in enumerate(header)
        if cmap.get(h.strip().lower(), h.strip().lower()) in ("study", "slab")
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.StringIO(text),
                sep=delim,
                decimal="," if delim == ";" else ".",
                header=0,
                names=list(range(width)),
                usecols=list(range(width)),
                dtype=dict.fromkeys(labels, str),
                skipinitialspace=True,
                index_col=False,
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, Warning) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
    return df.set_axis(header, axis=1)


def read_csv(
    path: str | Path, measure: str, *, columns: Mapping[str, str] | None = None
) -> StudyData:
    """Read and validate a CSV file of trial data (see :func:`study_data`).

    The delimiter is taken from the header line: comma, semicolon or tab. A
    semicolon-separated file is read with decimal commas (``1,5`` is 1.5), as spreadsheets
    write it in locales that use the comma as the decimal mark. A file that is not UTF-8 is
    read as Windows-1252 (latin-1) with a :class:`DataWarning`.

    Raises
    ------
    DataError
        If the file cannot be read or its contents are invalid; the message names the file.
    """
    path = Path(path)
    text = _read_text(path)
    df = _parse_csv(text, path, columns)
    try:
        return study_data(df, measure, columns=columns, source=str(path))
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def effect_sizes(data: pd.DataFrame | StudyData, measure: str) -> pd.DataFrame:
    """Per-study effect sizes, as metafor's ``escalc`` computes them.

    Parameters
    ----------
    data : pandas.DataFrame or StudyData
        Trial data in any input shape (see :func:`study_data`).
    measure : str
        ``MD``, ``SMD``, ``OR``, ``RR``, ``RD``, ``HR`` or ``GEN``.

    Returns
    -------
    pandas.DataFrame
        One row per study: ``study``, ``yi``, ``vi``, ``sei``; OR, RR and HR on the log scale.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": ["A"], "mean_t": [10.0], "sd_t": [2.0], "n_t": [20],
    ...                    "mean_c": [8.0], "sd_c": [2.0], "n_c": [20]})
    >>> effect_sizes(df, "MD")[["yi", "vi"]].round(3).values.tolist()
    [[2.0, 0.4]]
    """
    return study_data(data, measure).effects.copy()

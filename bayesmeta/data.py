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

Every problem raises :class:`DataError` naming the study and the column; nothing
is dropped silently.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from bayesmeta import effects

__all__ = [
    "MEASURES",
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


class DataError(ValueError):
    """Invalid trial data; the message names the study and the column."""


class DataWarning(UserWarning):
    """Data that are valid but deserve a second look (double-zero studies, odd CIs)."""


#: Canonical columns of each input shape.
SHAPES: dict[str, tuple[str, ...]] = {
    "continuous": ("study", "mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "binary": ("study", "events_t", "n_t", "events_c", "n_c"),
    "estimate (se)": ("study", "estimate", "se"),
    "estimate (ci)": ("study", "estimate", "ci_lower", "ci_upper"),
}
_OPTIONAL = {"estimate (ci)": ("ci_level",), "estimate (se)": ()}

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


def _expected_text() -> str:
    return "; ".join(f"{name}: {', '.join(cols)}" for name, cols in SHAPES.items())


def _detect_shape(columns: list[str]) -> str:
    cols = set(columns)
    if "estimate" in cols:
        has_se = "se" in cols
        has_ci = bool({"ci_lower", "ci_upper"} & cols)
        if has_se and has_ci:
            raise DataError(
                "give either 'se' or 'ci_lower'/'ci_upper' for reported estimates, not both"
            )
        return "estimate (ci)" if has_ci else "estimate (se)"
    if {"events_t", "events_c"} & cols:
        return "binary"
    if {"mean_t", "mean_c", "sd_t", "sd_c"} & cols:
        return "continuous"
    raise DataError(
        f"cannot recognise the input shape from columns {sorted(cols)}; expected one of: "
        f"{_expected_text()}"
    )


def _check_columns(columns: list[str], shape: str) -> None:
    required = SHAPES[shape]
    allowed = set(required) | set(_OPTIONAL.get(shape, ()))
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c not in allowed]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if problems:
        optional = _OPTIONAL.get(shape, ())
        extra = f" (optional: {', '.join(optional)})" if optional else ""
        raise DataError(
            f"{' and '.join(problems)} for {shape} data; expected columns: "
            f"{', '.join(required)}{extra}. Rename columns with columns={{...}} "
            "or drop the ones that are not data."
        )


def _fmt(x: object) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def _study_labels(df: pd.DataFrame) -> list[str]:
    labels = []
    for row, value in enumerate(df["study"].tolist(), start=1):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise DataError(
                f"row {row}: column 'study' is missing (NaN); every study needs a label"
            )
        text = str(value).strip()
        if not text:
            raise DataError(f"row {row}: column 'study' is empty; every study needs a label")
        labels.append(text)
    seen: dict[str, int] = {}
    dups = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] == 2:
            dups.append(lab)
    if dups:
        raise DataError(
            f"duplicate study label(s) {', '.join(map(repr, dups))} in column 'study'; "
            "labels must be unique"
        )
    return labels


def _numeric_column(df: pd.DataFrame, col: str, labels: list[str]) -> np.ndarray:
    series = df[col]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        fast = series.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(fast).all()
        if ok and col in _COUNT_COLUMNS:
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
            raise DataError(f"{where} is not a number ({value!r})") from None
        if np.isnan(num):
            raise DataError(f"{where} is missing (NaN)")
        if not np.isfinite(num):
            raise DataError(f"{where} is not finite ({value!r})")
        if col in _COUNT_COLUMNS and not num.is_integer():
            raise DataError(f"{where} ({_fmt(num)}) is not a whole number")
        out[i] = num
    return out


def _fail_where(mask: np.ndarray, labels: list[str], message) -> None:
    idx = np.flatnonzero(mask)
    if idx.size:
        i = int(idx[0])
        raise DataError(f"study '{labels[i]}': {message(i)}")


def _validate_values(v: dict[str, np.ndarray], labels: list[str], kind: Kind, measure: str) -> None:
    if kind == "continuous":
        n_min = 2 if measure == "SMD" else 1
        for arm in ("t", "c"):
            sd, n = v[f"sd_{arm}"], v[f"n_{arm}"]
            _fail_where(
                sd <= 0, labels, lambda i, sd=sd, a=arm: f"sd_{a} ({_fmt(sd[i])}) must be > 0"
            )
            _fail_where(
                n < n_min,
                labels,
                lambda i, n=n, a=arm: (
                    f"n_{a} ({_fmt(n[i])}) must be >= {n_min}" + (" for SMD" if n_min == 2 else "")
                ),
            )
    elif kind == "binary":
        for arm in ("t", "c"):
            ev, n = v[f"events_{arm}"], v[f"n_{arm}"]
            _fail_where(n < 1, labels, lambda i, n=n, a=arm: f"n_{a} ({_fmt(n[i])}) must be >= 1")
            _fail_where(
                ev < 0, labels, lambda i, ev=ev, a=arm: f"events_{a} ({_fmt(ev[i])}) must be >= 0"
            )
            _fail_where(
                ev > n,
                labels,
                lambda i, ev=ev, n=n, a=arm: f"events_{a} ({_fmt(ev[i])}) > n_{a} ({_fmt(n[i])})",
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
            _fail_where(se <= 0, labels, lambda i: f"se ({_fmt(se[i])}) must be > 0")
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


def _compute_effects(
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

    Examples
    --------
    >>> import pandas as pd
    >>> sd = study_data(pd.DataFrame({"study": ["A", "B"], "estimate": [1.5, 2.0],
    ...                               "ci_lower": [1.0, 1.2], "ci_upper": [2.25, 3.3]}), "RR")
    >>> sd.k, sd.is_ratio
    (2, True)
    """

    table: pd.DataFrame
    measure: str
    kind: Kind
    effects: pd.DataFrame
    source: str | None = field(default=None)

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

    def sha256(self) -> str:
        """Digest of the canonical table (columns in canonical order, full precision)."""
        buf = io.StringIO()
        self.table.to_csv(buf, index=False, float_format="%.17g", lineterminator="\n")
        return hashlib.sha256(buf.getvalue().encode()).hexdigest()

    def __repr__(self) -> str:
        return (
            f"StudyData(k={self.k}, measure={self.measure!r}, kind={self.kind!r}, "
            f"studies={self.labels!r})"
        )


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
        One row per study in one of the shapes of :data:`SHAPES`.
    measure : str
        Effect measure (case-insensitive): ``MD``/``SMD`` for continuous arms,
        ``OR``/``RR``/``RD`` for binary arms, any of ``MD, SMD, OR, RR, HR, RD, GEN``
        for reported estimates (OR/RR/HR estimates and limits given as ratios).
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
    """
    if isinstance(data, StudyData):
        if measure is not None and str(measure).strip().upper() != data.measure:
            return study_data(data.table, measure, source=data.source)
        return data
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame or StudyData, got {type(data).__name__}")
    df = data.rename(columns=dict(columns)) if columns else data
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise DataError(f"duplicate column name(s) {', '.join(map(repr, dup))}")
    df = df.set_axis(cols, axis=1)
    shape = _detect_shape(cols)
    _check_columns(cols, shape)
    kind: Kind = "estimate" if shape.startswith("estimate") else shape  # type: ignore[assignment]
    measure = _normalise_measure(measure, kind)
    if len(df) == 0:
        raise DataError("no studies: the table has no rows")
    labels = _study_labels(df)
    ordered = [c for c in SHAPES[shape] + _OPTIONAL.get(shape, ()) if c in cols]
    values = {c: _numeric_column(df, c, labels) for c in ordered if c != "study"}
    _validate_values(values, labels, kind, measure)
    yi, vi = _compute_effects(values, kind, measure)
    _warn_data(values, labels, kind, measure)
    table = pd.DataFrame({"study": labels, **values})
    eff = pd.DataFrame({"study": labels, "yi": yi, "vi": vi, "sei": np.sqrt(vi)})
    return StudyData(table=table, measure=measure, kind=kind, effects=eff, source=source)


def read_csv(
    path: str | Path, measure: str, *, columns: Mapping[str, str] | None = None
) -> StudyData:
    """Read and validate a CSV file of trial data (see :func:`study_data`).

    Raises
    ------
    DataError
        If the file cannot be read or its contents are invalid; the message names the file.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={"study": str}, skipinitialspace=True, comment=None)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None
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

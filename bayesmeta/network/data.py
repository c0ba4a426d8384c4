r"""Network data: long arm-level or contrast-level tables -> validated :class:`NetworkData`.

One row per arm, in one of these shapes (recognised from the columns; headers are
stripped and lower-cased):

====================  ======================================================================
shape                 columns
====================  ======================================================================
binary arms           ``study, treatment, events, n``
continuous arms       ``study, treatment, mean, sd, n`` or ``study, treatment, mean, se``
contrasts             ``study, treatment, estimate, se``: ``estimate`` is the contrast
                      against the study's baseline arm; the baseline row leaves
                      ``estimate`` empty and its ``se`` is the standard error of the
                      baseline arm, i.e. the covariance between the study's contrasts
                      (needed for 3+ arms only), as in multinma and NICE DSU TSD2
mixed                 ``mean`` and ``estimate`` columns together: a study whose rows have
                      ``mean`` is arm-level, a study whose rows leave it empty is
                      contrast-level (one ``se`` column serves both)
====================  ======================================================================

Every study becomes its contrasts against its baseline arm, ``y`` (k - 1) with covariance
``V`` ((k - 1) x (k - 1)):

* continuous arms, MD: :math:`y_j = m_j - m_b`, :math:`V_{jj} = s_j^2 + s_b^2`,
  :math:`V_{jl} = s_b^2` (``s`` the SE of an arm mean, ``sd / sqrt(n)``);
* continuous arms, SMD (Hedges' g): all contrasts of a study share one SD pooled over its
  k arms, :math:`s^2 = \sum_i (n_i - 1) s_i^2 / (N - k)` with :math:`N = \sum_i n_i` the
  study's total sample size: :math:`y_j = J(N - k)\,(m_j - m_b) / s` (Hedges' exact
  correction J), :math:`V_{jj} = 1/n_j + 1/n_b + y_j^2 / (2N)`,
  :math:`V_{jl} = 1/n_b + y_j y_l / (2N)` (Gleser and Olkin 2009, multiple-treatment
  studies; g in place of d as in metafor's ``vtype="LS"``). R meta's
  ``pairwise(sm = "SMD")``, which netmeta uses, pools the same SD and has the same
  variances (Crippa and Orsini 2016, eqs 4-5; without J), and the covariance netmeta's
  reweighting implies, :math:`(V_{bj} + V_{bl} - V_{jl}) / 2`, is this one. Two arms:
  exactly metafor's ``escalc(measure="SMD")``. With one SD per study the contrasts are
  consistent (:math:`y_a - y_c` is the SMD of a vs c) and ``V`` is closed under
  :meth:`StudyContrasts.rebased`; SDs pooled per pair of arms give neither;
* binary arms, log OR: :math:`y_j = \mathrm{logit}\,p_j - \mathrm{logit}\,p_b` with
  :math:`V_{jj} = v_j + v_b`, :math:`V_{jl} = v_b`, :math:`v = 1/r + 1/(n - r)`; 0.5 is
  added to every cell of a study only where a zero cell forces it (noted in
  :attr:`NetworkData.notes`). The binomial likelihood uses the raw counts;
* contrasts: as given; a baseline row's ``se`` squared is the off-diagonal.

Checks (each raises :class:`~bayesmeta.errors.DataError` naming the study and the
treatment): every study has at least two arms, no arm appears twice, counts, SDs and SEs
are valid (SMD: sd > 0 and n in every arm, N - k >= 2), a multi-arm contrast study gives
its baseline covariance and its contrast variances exceed it (else ``V`` is not a
covariance matrix), and the network is connected (else the components are named so that
each can be fitted on its own).

References
----------
Dias S, Welton NJ, Sutton AJ, Ades AE. NICE DSU Technical Support Document 2: a generalised
linear modelling framework for pairwise and network meta-analysis of randomised controlled
trials. 2011, last updated 2016. https://www.sheffield.ac.uk/nice-dsu/tsds

Gleser LJ, Olkin I. Stochastically dependent effect sizes. In: Cooper H, Hedges LV,
Valentine JC (eds). The Handbook of Research Synthesis and Meta-Analysis, 2nd ed. New York:
Russell Sage Foundation; 2009. p. 357-376.

Crippa A, Orsini N. Dose-response meta-analysis of differences in means. BMC Med Res
Methodol 2016;16:91. https://doi.org/10.1186/s12874-016-0189-0

Hedges LV. Distribution theory for Glass's estimator of effect size and related estimators.
J Educ Stat 1981;6(2):107-128. https://doi.org/10.3102/10769986006002107

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"study": ["A", "A", "A"], "treatment": ["pbo", "x", "y"],
...                    "mean": [1.0, 2.0, 4.0], "se": [0.5, 0.4, 0.3]})
>>> nd = network_data(df, "MD")
>>> s = nd.studies[0]
>>> s.arms, s.y.tolist()
(('pbo', 'x', 'y'), [1.0, 3.0])
>>> s.cov.round(4).tolist()
[[0.41, 0.25], [0.25, 0.34]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bayesmeta.errors import DataError

__all__ = [
    "CONTRAST_MEASURES",
    "NetworkData",
    "StudyContrasts",
    "network_data",
    "read_network_csv",
]

Array = NDArray[np.float64]

#: Measures a network can be analysed on (ratio measures on the log scale).
CONTRAST_MEASURES = ("MD", "SMD", "OR", "RR", "HR", "GEN")
#: Ratio measures: analysed as log ratios, reported on the natural scale with ``exp``.
RATIO_MEASURES = ("OR", "RR", "HR")
ZERO_CELL_ADD = 0.5

Kind = Literal["binary", "continuous", "contrast", "mixed"]


@dataclass(frozen=True)
class StudyContrasts:
    """One study as contrasts against its baseline arm ``arms[0]``.

    ``y`` (k - 1) and ``cov`` ((k - 1) x (k - 1)) are on the analysis scale; ``n`` (k) are
    the arms' sample sizes (NaN when not given); ``source`` is ``"arm"`` or ``"contrast"``.
    """

    study: str
    arms: tuple[str, ...]
    y: Array
    cov: Array
    n: Array
    source: str

    def rebased(self, baseline: str) -> tuple[tuple[str, ...], Array, Array]:
        """Return the same contrasts against another of the study's arms.

        Returns ``(arms, y, cov)`` with ``arms[0] == baseline``.

        Examples
        --------
        >>> s = StudyContrasts("A", ("a", "b", "c"), np.array([1.0, 3.0]),
        ...                    np.array([[2.0, 1.0], [1.0, 3.0]]), np.full(3, np.nan), "arm")
        >>> arms, y, cov = s.rebased("b")
        >>> arms, y.tolist(), cov.tolist()
        (('b', 'a', 'c'), [-1.0, 2.0], [[2.0, 1.0], [1.0, 3.0]])
        """
        if baseline == self.arms[0]:
            return self.arms, self.y, self.cov
        j = self.arms.index(baseline)
        k = len(self.arms)
        arms = (baseline, *[a for a in self.arms if a != baseline])
        # each new contrast (arm a vs baseline) = old (a vs b0) - old (baseline vs b0)
        M = np.zeros((k - 1, k - 1))
        for r, a in enumerate(arms[1:]):
            i = self.arms.index(a)
            if i > 0:
                M[r, i - 1] += 1.0
            M[r, j - 1] -= 1.0
        return arms, M @ self.y, M @ self.cov @ M.T


@dataclass(frozen=True)
class NetworkData:
    """A validated network: studies as contrasts, plus the arm table for binomial models.

    Attributes
    ----------
    studies : tuple of StudyContrasts
    treatments : tuple of str
        Sorted (numbers inside labels in numeric order).
    measure : str
        ``MD``, ``SMD``, ``OR``, ``RR``, ``HR`` or ``GEN`` (ratios as log ratios).
    kind : str
        ``binary``, ``continuous``, ``contrast`` or ``mixed``.
    arms : pandas.DataFrame or None
        ``study, treatment, events, n`` for binary arm data (the binomial likelihood).
    table : pandas.DataFrame
        The input as read (normalised headers).
    notes : tuple of str
        Continuity corrections and other transformations applied.
    """

    studies: tuple[StudyContrasts, ...]
    treatments: tuple[str, ...]
    measure: str
    kind: str
    arms: pd.DataFrame | None
    table: pd.DataFrame
    notes: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)

    @property
    def study_labels(self) -> tuple[str, ...]:
        """The studies' labels."""
        return tuple(s.study for s in self.studies)

    @property
    def is_ratio(self) -> bool:
        """Whether the measure is a ratio (analysed on the log scale)."""
        return self.measure in RATIO_MEASURES

    def edges(self) -> pd.DataFrame:
        """One row per compared pair: ``treatment, comparator, studies, n`` (direct evidence).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"study": ["A", "A", "B", "B"], "treatment": ["p", "x", "p", "x"],
        ...                    "events": [1, 3, 2, 4], "n": [10, 10, 12, 12]})
        >>> network_data(df, "OR").edges().to_dict("records")
        [{'treatment': 'x', 'comparator': 'p', 'studies': 2, 'n': 44.0}]
        """
        order = {t: i for i, t in enumerate(self.treatments)}
        count: dict[tuple[str, str], list[float]] = {}
        for s in self.studies:
            for i, a in enumerate(s.arms):
                for j, b in enumerate(s.arms):
                    if order[a] > order[b]:
                        c = count.setdefault((a, b), [0, 0.0])
                        c[0] += 1
                        c[1] += float(np.nansum([s.n[i], s.n[j]]))
        rows = [
            {"treatment": a, "comparator": b, "studies": c[0], "n": c[1]}
            for (a, b), c in sorted(
                count.items(), key=lambda kv: (order[kv[0][1]], order[kv[0][0]])
            )
        ]
        return pd.DataFrame(rows, columns=["treatment", "comparator", "studies", "n"])

    def participants(self) -> pd.Series:
        """Participants per treatment (sum of arm sizes; NaN where no size was given)."""
        out = dict.fromkeys(self.treatments, 0.0)
        known = dict.fromkeys(self.treatments, False)
        for s in self.studies:
            for a, n in zip(s.arms, s.n, strict=True):
                if np.isfinite(n):
                    out[a] += float(n)
                    known[a] = True
        return pd.Series(
            {t: (out[t] if known[t] else np.nan) for t in self.treatments}, name="n", dtype=float
        )

    def components(self) -> list[list[str]]:
        """Return the connected components of the network (lists of treatments)."""
        return _components(self.treatments, [s.arms for s in self.studies])

    def contrast_table(self) -> pd.DataFrame:
        """Return the analysis-scale contrasts: ``study, treatment, comparator, estimate, se``."""
        rows = []
        for s in self.studies:
            for j, a in enumerate(s.arms[1:]):
                rows.append(
                    {
                        "study": s.study,
                        "treatment": a,
                        "comparator": s.arms[0],
                        "estimate": float(s.y[j]),
                        "se": math.sqrt(float(s.cov[j, j])),
                    }
                )
        return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
def _components(treatments: Sequence[str], study_arms: Sequence[Sequence[str]]) -> list[list[str]]:
    parent = {t: t for t in treatments}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for arms in study_arms:
        for a in arms[1:]:
            ra, rb = find(arms[0]), find(a)
            if ra != rb:
                parent[rb] = ra
    groups: dict[str, list[str]] = {}
    for t in treatments:
        groups.setdefault(find(t), []).append(t)
    return list(groups.values())


def _natural(s: str) -> list[Any]:
    """Sort key: text with embedded numbers in numeric order ("t2" before "t10")."""
    import re

    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", s)]


def _label(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _numeric(df: pd.DataFrame, col: str, what: str) -> Array:
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    raw = df[col]
    bad = np.isnan(vals) & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        r = df.iloc[i]
        raise DataError(
            f"study {r['study']!r}, treatment {r['treatment']!r}: column {col!r} "
            f"({what}) must be a number, got {raw.iloc[i]!r}"
        )
    return vals


def _where(r: Any) -> str:
    return f"study {r['study']!r}, treatment {r['treatment']!r}"


def network_data(
    data: pd.DataFrame | str | Path,
    measure: str | None = None,
    *,
    columns: Mapping[str, str] | None = None,
) -> NetworkData:
    """Validate a long network table and build each study's contrasts.

    Parameters
    ----------
    data : pandas.DataFrame or path
        One row per arm (see the module docstring for the shapes); a path is read with
        :func:`read_network_csv`.
    measure : str, optional
        ``OR`` for binary arms (the default for them); ``MD`` (default) or ``SMD`` for
        continuous arms; the scale of given contrasts (``MD``, ``SMD``, ``OR``, ``RR``,
        ``HR``, ``GEN``; ratios as log ratios; default ``GEN``).
    columns : mapping, optional
        Renames, ``{"old": "new"}`` (e.g. ``{"trt": "treatment"}``).

    Returns
    -------
    NetworkData

    Raises
    ------
    DataError
        For any invalid input; the message names the study and the treatment.
    """
    if isinstance(data, str | Path):
        return read_network_csv(data, measure, columns=columns)
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"network data must be a DataFrame or a CSV path, got {type(data)}")
    df = data.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if columns:
        df = df.rename(columns={k.strip().lower(): v for k, v in columns.items()})
    if df.empty:
        raise DataError("the network table has no rows")
    for col in ("study", "treatment"):
        if col not in df.columns:
            raise DataError(
                f"missing column {col!r}: a network table has one row per arm with columns "
                "study, treatment and events, n (binary) / mean, sd, n or mean, se "
                "(continuous) / estimate, se (contrasts)"
            )
    if df["study"].isna().any() or df["treatment"].isna().any():
        i = int(np.flatnonzero(df["study"].isna() | df["treatment"].isna())[0])
        raise DataError(f"row {i + 1}: study and treatment must not be empty")
    df["study"] = [_label(v) for v in df["study"]]
    df["treatment"] = [_label(v) for v in df["treatment"]]
    cols = set(df.columns)
    if {"events", "n"} <= cols and "mean" not in cols and "estimate" not in cols:
        kind: Kind = "binary"
        m = (measure or "OR").upper()
        if m != "OR":
            raise DataError(
                f"binary arm data are analysed as log odds ratios (measure OR), got {m}"
            )
    elif "mean" in cols and "estimate" in cols:
        kind = "mixed"
        m = (measure or "MD").upper()
    elif "mean" in cols:
        kind = "continuous"
        m = (measure or "MD").upper()
    elif "estimate" in cols:
        kind = "contrast"
        m = (measure or "GEN").upper()
    else:
        raise DataError(
            "cannot tell the shape of the network table from its columns "
            f"({', '.join(df.columns)}): give events, n (binary arms); mean, sd, n or mean, se "
            "(continuous arms); or estimate, se (contrasts against each study's baseline)"
        )
    if m not in CONTRAST_MEASURES:
        raise DataError(f"measure must be one of {', '.join(CONTRAST_MEASURES)}, got {m!r}")
    if kind in ("continuous", "mixed") and m not in ("MD", "SMD"):
        raise DataError(f"continuous arm data give MD or SMD, got measure {m}")
    if kind in ("continuous", "mixed") and m == "SMD" and not {"sd", "n"} <= cols:
        raise DataError("SMD from continuous arms needs the columns mean, sd and n")

    # duplicate arms, single-arm studies
    dup = df.duplicated(["study", "treatment"], keep="first")
    if dup.any():
        r = df[dup].iloc[0]
        raise DataError(
            f"{_where(r)}: the arm appears twice (one row per arm; combine or relabel the "
            "arms, e.g. doses as separate treatments)"
        )
    sizes = df.groupby("study", sort=False).size()
    if (sizes < 2).any():
        st = sizes[sizes < 2].index[0]
        tr = df.loc[df["study"] == st, "treatment"].iloc[0]
        raise DataError(
            f"study {st!r}, treatment {tr!r}: the study has a single arm; every study needs "
            "at least 2 arms (a comparison)"
        )
    n_all = _numeric(df, "n", "sample size") if "n" in cols else np.full(len(df), np.nan)
    if "n" in cols:
        bad = np.isfinite(n_all) & ((n_all <= 0) | (n_all != np.round(n_all)))
        if bad.any():
            r = df[bad].iloc[0]
            raise DataError(f"{_where(r)}: n must be a positive whole number, got {r['n']!r}")
    df["_n"] = n_all

    notes: list[str] = []
    studies: list[StudyContrasts] = []
    treatments = tuple(sorted(dict.fromkeys(df["treatment"]), key=_natural))
    arms_table = None
    if kind == "binary":
        ev = _numeric(df, "events", "events")
        for i in np.flatnonzero(~np.isfinite(ev) | ~np.isfinite(n_all)):
            r = df.iloc[i]
            raise DataError(f"{_where(r)}: events and n must be given")
        bad = (ev < 0) | (ev > n_all) | (ev != np.round(ev))
        if bad.any():
            r = df[bad].iloc[0]
            raise DataError(
                f"{_where(r)}: events must be a whole number between 0 and n "
                f"(events {r['events']!r}, n {r['n']!r})"
            )
        df["_events"] = ev
        arms_table = pd.DataFrame(
            {
                "study": df["study"].to_numpy(),
                "treatment": df["treatment"].to_numpy(),
                "events": ev.astype(int),
                "n": n_all.astype(int),
            }
        )
        for st, g in df.groupby("study", sort=False):
            studies.append(_binary_study(str(st), g, notes))
    else:
        if "se" in cols:
            df["_se"] = _numeric(df, "se", "standard error")
        else:
            df["_se"] = np.nan
        if "mean" in cols:
            df["_mean"] = _numeric(df, "mean", "arm mean")
        if "sd" in cols:
            df["_sd"] = _numeric(df, "sd", "arm SD")
        if "estimate" in cols:
            df["_est"] = _numeric(df, "estimate", "contrast estimate")
        for st, g in df.groupby("study", sort=False):
            arm_level = "_mean" in g and g["_mean"].notna().any()
            if arm_level:
                studies.append(_continuous_study(str(st), g, m))
            else:
                if "_est" not in g:
                    raise DataError(f"study {st!r}: no arm means and no contrast estimates")
                studies.append(_contrast_study(str(st), g))
    nd = NetworkData(
        studies=tuple(studies),
        treatments=treatments,
        measure=m,
        kind=kind,
        arms=arms_table,
        table=df.drop(columns=[c for c in df.columns if c.startswith("_")]),
        notes=tuple(notes),
    )
    comps = nd.components()
    if len(comps) > 1:
        parts = "; ".join(
            f"component {i + 1}: {', '.join(c)} (studies: "
            + ", ".join(s.study for s in nd.studies if s.arms[0] in c)
            + ")"
            for i, c in enumerate(comps)
        )
        raise DataError(
            f"the network is not connected: it has {len(comps)} separate components, so no "
            f"comparison links them. {parts}. Fit each component on its own."
        )
    return nd


def _binary_study(st: str, g: pd.DataFrame, notes: list[str]) -> StudyContrasts:
    r = g["_events"].to_numpy(float)
    n = g["_n"].to_numpy(float)
    arms = tuple(g["treatment"])
    add = 0.0
    if np.any((r == 0) | (r == n)):
        add = ZERO_CELL_ADD
        notes.append(
            f"study {st!r}: {ZERO_CELL_ADD} added to every cell (a zero cell) for the normal "
            "approximation; the binomial likelihood uses the raw counts"
        )
    a, b = r + add, n - r + add
    logit = np.log(a / b)
    v = 1 / a + 1 / b
    y = logit[1:] - logit[0]
    cov = np.full((len(arms) - 1, len(arms) - 1), v[0]) + np.diag(v[1:])
    return StudyContrasts(st, arms, y, cov, n, "arm")


def _continuous_study(st: str, g: pd.DataFrame, measure: str) -> StudyContrasts:
    arms = tuple(g["treatment"])
    mean = g["_mean"].to_numpy(float)
    n = g["_n"].to_numpy(float)
    for i in np.flatnonzero(~np.isfinite(mean)):
        raise DataError(
            f"study {st!r}, treatment {arms[i]!r}: the arm mean is missing (a study is either "
            "arm-level, every row with a mean, or contrast-level, none)"
        )
    if measure == "SMD":
        sd = g["_sd"].to_numpy(float)
        for i in np.flatnonzero(~(np.isfinite(sd) & (sd > 0)) | ~np.isfinite(n)):
            raise DataError(f"study {st!r}, treatment {arms[i]!r}: SMD needs sd > 0 and n")
        y, cov = _smd_contrasts(st, arms, mean, sd, n)
        return StudyContrasts(st, arms, y, cov, n, "arm")
    se = g["_se"].to_numpy(float).copy()
    if "_sd" in g:
        sd = g["_sd"].to_numpy(float)
        from_sd = ~np.isfinite(se) & np.isfinite(sd) & np.isfinite(n)
        se[from_sd] = sd[from_sd] / np.sqrt(n[from_sd])
    for i in np.flatnonzero(~(np.isfinite(se) & (se > 0))):
        raise DataError(
            f"study {st!r}, treatment {arms[i]!r}: the arm needs se > 0, or sd > 0 and n "
            "(the standard error of its mean)"
        )
    v = se**2
    y = mean[1:] - mean[0]
    cov = np.full((len(arms) - 1, len(arms) - 1), v[0]) + np.diag(v[1:])
    return StudyContrasts(st, arms, y, cov, n, "arm")


def _smd_contrasts(
    st: str, arms: Sequence[str], mean: Array, sd: Array, n: Array
) -> tuple[Array, Array]:
    """Hedges' g of every arm against ``arms[0]`` and their Gleser-Olkin covariance.

    One SD pooled over all k arms (N - k degrees of freedom), Hedges' exact correction
    ``J(N - k)``; ``V = 1/n_b + g g^T / (2N)`` plus ``1/n_j`` on the diagonal (see the
    module docstring). With two arms: metafor's ``escalc(measure="SMD")``.

    Examples
    --------
    >>> y, V = _smd_contrasts("A", ("p", "x", "y"), np.array([0.0, 1.0, 2.0]),
    ...                       np.ones(3), np.array([10.0, 10.0, 10.0]))
    >>> y.round(6).tolist()
    [0.971919, 1.943837]
    >>> V.round(6).tolist()
    [[0.215744, 0.131488], [0.131488, 0.262975]]
    """
    from bayesmeta.effects import hedges_correction

    k = len(arms)
    total = float(n.sum())
    df = total - k
    if df < 2:
        raise DataError(
            f"study {st!r}, treatment {arms[0]!r}: SMD needs at least 2 degrees of freedom "
            f"for the SD pooled over the study's arms (total n - number of arms = {df:g}; "
            f"n = {', '.join(f'{x:g}' for x in n)})"
        )
    # scaled by the largest SD so that squaring cannot overflow (or underflow)
    scale = float(sd.max())
    s_pooled = scale * math.sqrt(float(np.sum((n - 1) * (sd / scale) ** 2)) / df)
    y = float(hedges_correction(df)) * (mean[1:] - mean[0]) / s_pooled
    cov = 1 / n[0] + np.outer(y, y) / (2 * total)
    cov[np.diag_indices(k - 1)] += 1 / n[1:]
    return y, cov


def _contrast_study(st: str, g: pd.DataFrame) -> StudyContrasts:
    est = g["_est"].to_numpy(float)
    se = g["_se"].to_numpy(float)
    base = np.flatnonzero(~np.isfinite(est))
    tr = list(g["treatment"])
    if base.size != 1:
        which = (
            "no row with an empty estimate"
            if base.size == 0
            else f"{base.size} rows with an empty estimate ({', '.join(tr[i] for i in base)})"
        )
        raise DataError(
            f"study {st!r}, treatment {tr[0]!r}: contrast data need exactly one baseline row "
            f"per study (estimate empty), found {which}"
        )
    b = int(base[0])
    order = [b] + [i for i in range(len(tr)) if i != b]
    arms = tuple(tr[i] for i in order)
    y = est[order[1:]]
    s = se[order[1:]]
    for j in np.flatnonzero(~(np.isfinite(s) & (s > 0))):
        raise DataError(f"study {st!r}, treatment {arms[j + 1]!r}: the contrast needs se > 0")
    k = len(arms)
    if k > 2:
        sb = se[b]
        if not (np.isfinite(sb) and sb > 0):
            raise DataError(
                f"study {st!r}, treatment {arms[0]!r}: the study has {k} arms, so its baseline "
                "row needs se: the standard error of the baseline arm, which is the covariance "
                "between the study's contrasts"
            )
        for j in range(k - 1):
            if s[j] ** 2 <= sb**2:
                raise DataError(
                    f"study {st!r}, treatment {arms[j + 1]!r}: inconsistent multi-arm "
                    f"covariance: the contrast's se ({s[j]:g}) must exceed the baseline arm's "
                    f"se ({sb:g}), since var(contrast) = var(arm) + var(baseline)"
                )
        cov = np.full((k - 1, k - 1), sb**2) + np.diag(s**2 - sb**2)
    else:
        cov = np.diag(s**2)
    n = g["_n"].to_numpy(float)[order]
    return StudyContrasts(st, arms, y, cov, n, "contrast")


def read_network_csv(
    path: str | Path, measure: str | None = None, *, columns: Mapping[str, str] | None = None
) -> NetworkData:
    """Read a network CSV file (comma, semicolon or tab; see :func:`network_data`).

    Raises
    ------
    DataError
        If the file cannot be read or its contents are invalid; the message names the file.
    """
    from bayesmeta.data import _parse_csv, _read_text

    path = Path(path)
    text = _read_text(path)
    df = _parse_csv(text, path, None)
    try:
        nd = network_data(df, measure, columns=columns)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return NetworkData(**{**nd.__dict__, "source": str(path)})

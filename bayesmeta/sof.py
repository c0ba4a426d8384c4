"""The Bayesian summary-of-findings (SoF) table: one row per outcome.

Beside the usual GRADE columns (anticipated absolute effects per 1000 for binary
outcomes, the relative effect, the number of participants and studies) it gives the
posterior probability of a benefit at least as large as each candidate MCID, of a harm
as large as the smallest MCID and of a trivial effect, for the pooled effect and for a new
study, with a plain-language sentence. The "Certainty (GRADE)" column is left empty for
the reviewers' own judgement; imprecision facts that bear on it are flagged.

Numbers first (:func:`sof_numbers`, a labelled DataFrame), text last (:func:`sof_table`,
:func:`to_markdown`, :func:`to_html`, :func:`to_csv`).

Examples
--------
>>> import pandas as pd, bayesmeta
>>> from bayesmeta.sof import Outcome, sof_table
>>> df = pd.DataFrame({"study": ["A", "B", "C"], "events_t": [12, 20, 9],
...                    "n_t": [100, 150, 80], "events_c": [20, 31, 15],
...                    "n_c": [100, 150, 80]})
>>> spec = bayesmeta.AnalysisSpec.from_kwargs(
...     data=df, measure="RR", mcid=[0.9, 0.75], mcid_direction="less", seed=1)
>>> a = bayesmeta.run_analysis(spec)
>>> row = sof_table([Outcome("Death", a, group_labels=("Drug", "Placebo"))]).iloc[0]
>>> row["Risk with comparator (per 1000)"]
'200'
>>> row["Certainty (GRADE)"]
''
>>> print(row["Imprecision flags"])
95% CrI crosses the MCID (RR 0.9); fewer than 300 events (GRADE optimal information size)
"""

from __future__ import annotations

import html as _html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from bayesmeta.pipeline import Analysis

__all__ = ["COLUMNS", "Outcome", "sof_numbers", "sof_table", "to_csv", "to_html", "to_markdown"]

#: The display columns of the SoF table, in order.
COLUMNS = (
    "Outcome",
    "№ participants (studies)",
    "Risk with comparator (per 1000)",
    "Risk with intervention (per 1000) [95% CrI]",
    "Difference (per 1000) [95% CrI]",
    "Relative effect [95% CrI]",
    "Classical estimate [95% CI]",
    "P(benefit ≥ MCID): pooled [new study]",
    "P(harm ≥ MCID): pooled [new study]",
    "P(trivial): pooled [new study]",
    "Plain-language summary",
    "Certainty (GRADE)",
    "Imprecision flags",
    "Model",
)
#: GRADE's rule-of-thumb optimal information sizes (Guyatt et al. 2011, GRADE 6).
OIS_EVENTS, OIS_PARTICIPANTS = 300, 400


@dataclass(frozen=True, eq=False)
class Outcome:
    """One row of the SoF table.

    Attributes
    ----------
    title : str
        The outcome as the table shows it.
    primary : Analysis
        The primary analysis (the review's own fixed or random choice); its spec gives the
        MCIDs (``mcid``, ``mcid_direction``, ``mcid_labels``).
    random : Analysis, optional
        A random-effects analysis of the same data, for the new-study probabilities when
        the primary analysis is a common effect.
    classical : (label, estimate, lower, upper), optional
        The classical estimate to show (natural scale), e.g. RevMan's stored total.
        Default: from ``primary.classical`` (Mantel-Haenszel, inverse-variance or
        DerSimonian-Laird, matching the primary model).
    group_labels : (str, str)
        Names of the intervention and the comparator.
    error : str, optional
        Why the outcome could not be analysed (the row then says so).
    """

    title: str
    primary: Analysis | None
    random: Analysis | None = None
    classical: tuple[str, float, float, float] | None = None
    group_labels: tuple[str, str] = ("intervention", "comparator")
    error: str | None = None


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _risk(p0: float, x: float, measure: str) -> float:
    """Intervention risk at control risk ``p0`` for effect ``x`` on the analysis scale."""
    if measure == "OR":
        return _expit(math.log(p0 / (1 - p0)) + x)
    if measure == "RR":
        return min(p0 * math.exp(x), 1.0)
    return min(max(p0 + x, 0.0), 1.0)  # RD


def _natural_mcids(spec: Any, ratio: bool) -> list[float]:
    vals = [float(v) for v in spec.mcid]
    if ratio and spec.mcid_scale == "analysis":
        vals = [math.exp(v) for v in vals]
    return vals


def _classical(o: Outcome) -> tuple[str, float, float, float] | None:
    if o.classical is not None:
        return o.classical
    a = o.primary
    if a is None or a.classical is None or not len(a.classical):
        return None
    c = a.classical
    order = (
        ["Mantel-Haenszel (fixed)", "inverse-variance fixed effect"]
        if a.result.fixed
        else ["DerSimonian-Laird random effects", "inverse-variance fixed effect"]
    )
    for name in order:
        if name in c.index and math.isfinite(float(c.loc[name, "estimate"])):
            row = c.loc[name]
            return (name, float(row["estimate"]), float(row["lower"]), float(row["upper"]))
    return None


def sof_numbers(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    """Compute every number of the SoF table (one row per outcome, plain columns).

    Columns include ``k``, ``participants``, ``events``, ``measure``, ``mu_median``,
    ``mu_lower``, ``mu_upper`` (natural scale), ``control_risk`` and ``risk_median``,
    ``risk_lower``, ``risk_upper`` (binary outcomes), ``classical_*``, ``mcid`` (the
    thresholds, natural scale), ``direction``, ``p_benefit`` and ``p_benefit_new`` (lists,
    one per MCID), ``harm_threshold``, ``p_harm``, ``p_harm_new``, ``p_trivial``,
    ``p_trivial_new``, ``flags`` (a list of text) and ``error``.
    """
    import numpy as np
    import pandas as pd

    rows = []
    for o in outcomes:
        row: dict[str, Any] = {"outcome": o.title, "error": o.error}
        a = o.primary
        if a is None:
            rows.append(row)
            continue
        r = a.result
        sd = r.data
        ratio = r.is_ratio
        measure = r.measure
        scale = "natural" if ratio else "analysis"
        s = r.summary(scale=scale)
        ci = r.spec.ci_prob
        row.update(
            k=r.k,
            measure=measure,
            ratio=ratio,
            ci_prob=ci,
            fixed=r.fixed,
            mu_median=float(s.loc["mu", "median"]),
            mu_lower=float(s.loc["mu", "lower"]),
            mu_upper=float(s.loc["mu", "upper"]),
        )
        t = sd.table
        if sd.kind in ("binary", "continuous"):
            row["participants"] = float(t["n_t"].sum() + t["n_c"].sum())
        if sd.kind == "binary":
            row["events"] = float(t["events_t"].sum() + t["events_c"].sum())
            p0 = float(np.median(t["events_c"] / t["n_c"]))
            row["control_risk"] = p0
            if 0 < p0 < 1 and measure in ("OR", "RR", "RD"):
                m = r.posterior.marginal("mu")
                q = m.quantile(np.array([0.5, (1 - ci) / 2, (1 + ci) / 2]))
                risks = [_risk(p0, float(x), measure) for x in q]
                row.update(risk_median=risks[0], risk_lower=risks[1], risk_upper=risks[2])
        cl = _classical(o)
        if cl is not None:
            row.update(
                classical_label=cl[0],
                classical_estimate=cl[1],
                classical_lower=cl[2],
                classical_upper=cl[3],
            )
        rnd = o.random if o.random is not None else (a if not r.fixed else None)
        spec = a.spec
        mcid = _natural_mcids(spec, ratio) if spec.mcid else []
        row["mcid"] = mcid
        row["mcid_labels"] = list(spec.mcid_labels) if spec.mcid_labels else None
        row["direction"] = spec.mcid_direction
        flags: list[str] = []
        if r.k == 1:
            flags.append("k = 1")
        null = 1.0 if ratio else 0.0
        if mcid:
            direction = spec.mcid_direction
            opposite = "greater" if direction == "less" else "less"
            # the smallest benefit: the MCID closest to no effect
            dist = [abs(math.log(m) if ratio else m - null) for m in mcid]
            small = mcid[int(np.argmin(dist))]
            harm = 1 / small if ratio else 2 * null - small
            pb = r.prob_exceeds(mcid, direction=direction, scale="natural")
            ph = r.prob_exceeds([harm], direction=opposite, scale="natural")
            row["p_benefit"] = pb["p_mu"].tolist()
            row["harm_threshold"] = harm
            row["p_harm"] = float(ph["p_mu"].iloc[0])
            ib = mcid.index(small)
            row["p_trivial"] = max(0.0, 1 - row["p_benefit"][ib] - row["p_harm"])
            if rnd is not None:
                pbn = rnd.result.prob_exceeds(mcid, direction=direction, scale="natural")
                phn = rnd.result.prob_exceeds([harm], direction=opposite, scale="natural")
                row["p_benefit_new"] = pbn["p_new"].tolist()
                row["p_harm_new"] = float(phn["p_new"].iloc[0])
                row["p_trivial_new"] = max(0.0, 1 - row["p_benefit_new"][ib] - row["p_harm_new"])
            if row["mu_lower"] < small < row["mu_upper"]:
                flags.append(f"{100 * ci:g}% CrI crosses the MCID ({measure} {small:g})")
            if row["mu_lower"] < harm < row["mu_upper"]:
                flags.append(f"{100 * ci:g}% CrI includes a harm as large as the MCID")
        else:
            flags.append("no MCID: probabilities of benefit and harm not computed")
            if row["mu_lower"] < null < row["mu_upper"]:
                flags.append(f"{100 * ci:g}% CrI includes no effect ({measure} {null:g})")
        if sd.kind == "binary" and row.get("events", math.inf) < OIS_EVENTS:
            flags.append(f"fewer than {OIS_EVENTS} events (GRADE optimal information size)")
        elif sd.kind == "continuous" and row.get("participants", math.inf) < OIS_PARTICIPANTS:
            flags.append(
                f"fewer than {OIS_PARTICIPANTS} participants (GRADE optimal information size)"
            )
        row["flags"] = flags
        row["model"] = r.describe_model().split(",")[0]
        rows.append(row)
    return pd.DataFrame(rows)


# -- text -------------------------------------------------------------------------------------
def _num(x: float, ratio: bool) -> str:
    if not math.isfinite(x):
        return "NA"
    if ratio and 0 < x < 0.01:
        return f"{x:.2g}"
    return f"{x:.2f}".replace("-", "−")


def _p(p: float | None) -> str:
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "–"
    if p >= 0.995:
        return ">0.99"
    if p < 0.005:
        return "<0.01"
    return f"{p:.2f}"


def _per1000(p: float) -> str:
    return f"{round(1000 * p):d}"


def _diff1000(d: float) -> str:
    n = round(1000 * abs(d))
    if n == 0:
        return "0"
    return f"{n} {'more' if d > 0 else 'fewer'}"


def _threshold_text(measure: str, t: float, direction: str) -> str:
    return f"{measure} {'<' if direction == 'less' else '>'} {t:g}"


def _sentence(row: Any, o: Outcome) -> str:
    if not isinstance(row.get("measure"), str):
        return ""
    m, ratio = row["measure"], bool(row["ratio"])
    ci = f"{100 * row['ci_prob']:g}%"
    g1, g2 = o.group_labels
    parts = []
    if _present(row, "risk_median"):
        parts.append(
            f"With {g1}, about {_per1000(row['risk_median'])} per 1000 (95% CrI "
            f"{_per1000(row['risk_lower'])} to {_per1000(row['risk_upper'])}) against "
            f"{_per1000(row['control_risk'])} per 1000 with {g2}."
        )
    else:
        parts.append(
            f"Pooled {m} {_num(row['mu_median'], ratio)} ({ci} CrI "
            f"{_num(row['mu_lower'], ratio)} to {_num(row['mu_upper'], ratio)})."
        )
    mcid = row.get("mcid") or []
    if mcid:
        d = row["direction"]
        dist = [abs(math.log(t)) if ratio else abs(t) for t in mcid]
        ib = dist.index(min(dist))
        p = row["p_benefit"][ib]
        pn = row.get("p_benefit_new")
        what = _threshold_text(m, mcid[ib], d)
        text = f"Probability {_p(p)} that the benefit reaches the smallest MCID ({what})"
        if isinstance(pn, list):
            text += f"; {_p(pn[ib])} that it does in a new study"
        parts.append(text + f"; probability of a trivial effect {_p(row['p_trivial'])}.")
    return " ".join(parts)


def _present(row: Any, key: str) -> bool:
    v = row.get(key)
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def sof_table(outcomes: Sequence[Outcome], numbers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the SoF table as text, one row per outcome, columns :data:`COLUMNS`."""
    import pandas as pd

    nums = sof_numbers(outcomes) if numbers is None else numbers
    out = []
    for o, (_, row) in zip(outcomes, nums.iterrows(), strict=True):
        cells = dict.fromkeys(COLUMNS, "")
        cells["Outcome"] = o.title
        if not _present(row, "measure"):
            cells["Plain-language summary"] = f"Not analysed: {o.error or 'no result'}"
            out.append(cells)
            continue
        m, ratio = row["measure"], bool(row["ratio"])
        k = int(row["k"])
        studies = f"{k} {'study' if k == 1 else 'studies'}"
        cells["№ participants (studies)"] = (
            f"{int(row['participants']):,} ({studies})"
            if _present(row, "participants")
            else f"– ({studies})"
        )
        if _present(row, "control_risk"):
            cells["Risk with comparator (per 1000)"] = _per1000(row["control_risk"])
        if _present(row, "risk_median"):
            p0 = row["control_risk"]
            cells["Risk with intervention (per 1000) [95% CrI]"] = (
                f"{_per1000(row['risk_median'])} ({_per1000(row['risk_lower'])} to "
                f"{_per1000(row['risk_upper'])})"
            )
            cells["Difference (per 1000) [95% CrI]"] = (
                f"{_diff1000(row['risk_median'] - p0)} ({_diff1000(row['risk_lower'] - p0)} "
                f"to {_diff1000(row['risk_upper'] - p0)})"
            )
        cells["Relative effect [95% CrI]" if ratio else "Relative effect [95% CrI]"] = (
            f"{m} {_num(row['mu_median'], ratio)} ({_num(row['mu_lower'], ratio)} to "
            f"{_num(row['mu_upper'], ratio)})"
        )
        if _present(row, "classical_estimate"):
            cells["Classical estimate [95% CI]"] = (
                f"{m} {_num(row['classical_estimate'], ratio)} "
                f"({_num(row['classical_lower'], ratio)} to "
                f"{_num(row['classical_upper'], ratio)}); {row['classical_label']}"
            )
        mcid = row.get("mcid") or []
        if mcid:
            d = row["direction"]
            labels = row.get("mcid_labels") or [None] * len(mcid)
            newb = row.get("p_benefit_new")
            parts = []
            for j, t in enumerate(mcid):
                lab = f" ({labels[j]})" if labels[j] else ""
                new = f" [{_p(newb[j])}]" if isinstance(newb, list) else ""
                parts.append(f"{_threshold_text(m, t, d)}{lab}: {_p(row['p_benefit'][j])}{new}")
            cells["P(benefit ≥ MCID): pooled [new study]"] = "; ".join(parts)
            opp = "greater" if d == "less" else "less"
            hn = f" [{_p(row['p_harm_new'])}]" if _present(row, "p_harm_new") else ""
            cells["P(harm ≥ MCID): pooled [new study]"] = (
                f"{_threshold_text(m, row['harm_threshold'], opp)}: {_p(row['p_harm'])}{hn}"
            )
            tn = f" [{_p(row['p_trivial_new'])}]" if _present(row, "p_trivial_new") else ""
            cells["P(trivial): pooled [new study]"] = f"{_p(row['p_trivial'])}{tn}"
        cells["Plain-language summary"] = _sentence(row, o)
        cells["Imprecision flags"] = "; ".join(row["flags"])
        cells["Model"] = row["model"] + (
            "; new-study probabilities from random effects" if row["fixed"] and mcid else ""
        )
        out.append(cells)
    return pd.DataFrame(out, columns=list(COLUMNS))


def to_csv(table: pd.DataFrame, path: Any) -> None:
    """Write the SoF table as CSV (UTF-8 with a byte-order mark, so Excel reads ``№``)."""
    table.to_csv(path, index=False, encoding="utf-8-sig")


def to_markdown(table: pd.DataFrame) -> str:
    r"""Format the SoF table as a markdown (pipe) table.

    Examples
    --------
    >>> import pandas as pd
    >>> print(to_markdown(pd.DataFrame({"Outcome": ["a|b"], "Certainty (GRADE)": [""]})))
    | Outcome | Certainty (GRADE) |
    |---|---|
    | a\|b |  |
    """
    cols = [str(c) for c in table.columns]

    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def to_html(table: pd.DataFrame, *, css_class: str = "sof") -> str:
    """Format the SoF table as an HTML ``<table>`` (escaped; no styles or scripts).

    Examples
    --------
    >>> import pandas as pd
    >>> to_html(pd.DataFrame({"Outcome": ["<b>"]}))
    '<table class="sof"><thead><tr><th>Outcome</th></tr></thead><tbody><tr><td>&lt;b&gt;</td></tr></tbody></table>'
    """  # noqa: E501
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(False)
    )
    return (
        f'<table class="{_html.escape(css_class)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )

"""Classical estimates a review would report beside the Bayesian result.

Inverse-variance fixed effect, DerSimonian-Laird random effects (Wald CIs), and
Mantel-Haenszel for arm-level binary data (odds ratio from statsmodels' StratifiedTable,
Robins-Breslow-Greenland CI; risk ratio with the Greenland-Robins variance). Checked
against R metafor ``rma(method="FE"/"DL")`` and ``rma.mh`` in the tests.

References
----------
DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials
1986;7(3):177-188. https://doi.org/10.1016/0197-2456(86)90046-2
Greenland S, Robins JM. Estimation of a common effect parameter from sparse follow-up
data. Biometrics 1985;41(1):55-68. https://doi.org/10.2307/2530643
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from bayesmeta.data import StudyData

__all__ = ["classical_table", "dersimonian_laird", "inverse_variance", "mantel_haenszel"]

_Z = stats.norm.ppf(0.975)


def inverse_variance(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float]:
    """Fixed-effect (common-effect) estimate and its SE."""
    w = 1 / vi
    return float((w * yi).sum() / w.sum()), float(w.sum() ** -0.5)


def dersimonian_laird(yi: np.ndarray, vi: np.ndarray) -> tuple[float, float, float, float]:
    """DerSimonian-Laird random-effects estimate, SE, tau^2 and I^2 (k >= 2)."""
    k = yi.size
    if k < 2:
        raise ValueError("DerSimonian-Laird needs at least 2 studies")
    w = 1 / vi
    fe = (w * yi).sum() / w.sum()
    q = (w * (yi - fe) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (q - (k - 1)) / c)
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    wr = 1 / (vi + tau2)
    return float((wr * yi).sum() / wr.sum()), float(wr.sum() ** -0.5), float(tau2), float(i2)


def mantel_haenszel(table: pd.DataFrame, measure: str) -> tuple[float, float]:
    """Mantel-Haenszel log OR or log RR and its SE from arm-level counts."""
    a, n1 = table["events_t"].to_numpy(float), table["n_t"].to_numpy(float)
    c, n2 = table["events_c"].to_numpy(float), table["n_c"].to_numpy(float)
    b, d, n = n1 - a, n2 - c, n1 + n2
    if measure == "OR":
        from statsmodels.stats.contingency_tables import StratifiedTable

        tables = np.stack([np.stack([a, b], -1), np.stack([c, d], -1)], 1)  # (K, 2, 2)
        keep = ((a + c) > 0) & ((b + d) > 0)  # uninformative tables
        if not (a * d)[keep].sum() > 0 or not (b * c)[keep].sum() > 0:
            return float("nan"), float("nan")  # MH OR is 0 or infinite
        st = StratifiedTable(np.moveaxis(tables[keep], 0, -1))
        return float(st.logodds_pooled), float(st.logodds_pooled_se)
    if measure == "RR":
        r, s = (a * n2 / n).sum(), (c * n1 / n).sum()
        if r == 0 or s == 0:
            return float("nan"), float("nan")  # MH RR is 0 or infinite
        var = ((n1 * n2 * (a + c) - a * c * n) / n**2).sum() / (r * s)
        return float(np.log(r / s)), float(np.sqrt(var))
    raise ValueError(f"Mantel-Haenszel applies to OR and RR, not {measure}")


def classical_table(sd: StudyData) -> pd.DataFrame:
    """Classical pooled estimates with 95% CIs on the natural scale.

    Rows: ``inverse-variance fixed effect``, ``DerSimonian-Laird random effects``
    (k >= 2) and ``Mantel-Haenszel (fixed)`` (arm-level OR/RR; NaN when it is 0 or
    infinite, e.g. no events in one arm of every table). Columns ``estimate``,
    ``lower``, ``upper`` (ratios for OR/RR/HR), ``tau2`` and ``I2`` for DL.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"study": ["ProDERM"], "events_t": [37], "n_t": [47],
    ...                    "events_c": [21], "n_c": [48]})
    >>> classical_table(bayesmeta.study_data(df, "RR")).round(2).iloc[0].tolist()[:3]
    [1.8, 1.26, 2.56]
    """
    tf = np.exp if sd.is_ratio else (lambda x: x)
    rows = {}
    est, se = inverse_variance(sd.yi, sd.vi)
    rows["inverse-variance fixed effect"] = [est, se, np.nan, np.nan]
    if sd.k >= 2:
        est, se, tau2, i2 = dersimonian_laird(sd.yi, sd.vi)
        rows["DerSimonian-Laird random effects"] = [est, se, tau2, i2]
    if sd.kind == "binary" and sd.measure in ("OR", "RR"):
        est, se = mantel_haenszel(sd.table, sd.measure)
        rows["Mantel-Haenszel (fixed)"] = [est, se, np.nan, np.nan]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["est", "se", "tau2", "I2"])
    table = pd.DataFrame(
        {
            "estimate": tf(out["est"]),
            "lower": tf(out["est"] - _Z * out["se"]),
            "upper": tf(out["est"] + _Z * out["se"]),
            "tau2": out["tau2"],
            "I2": out["I2"],
        },
        index=out.index,
    )
    table.attrs["measure"] = sd.measure
    return table

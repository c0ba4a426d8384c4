"""Prior sensitivity: how the results move across priors on tau."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from bayesmeta.results import MetaResult

__all__ = ["prior_sensitivity"]


def prior_sensitivity(
    result: MetaResult,
    tau_priors: Sequence[Any],
    thresholds: Sequence[float] | None = None,
    direction: str | None = None,
    scale: str | None = None,
    ci_prob: float | None = None,
) -> pd.DataFrame:
    """Refit ``result``'s data under each prior on tau (random effects) and tabulate.

    The first row is ``result`` itself. Every fit uses ``result``'s spec (priors on mu,
    likelihood, engine request, seed and sampling settings) with only the prior on tau
    changed. Thresholds, direction and scale default to the spec's MCIDs.

    Returns
    -------
    pandas.DataFrame
        One row per prior: ``mu`` median and interval, ``theta_new`` interval (natural
        scale for ratios), ``tau`` median, and ``P(mu ...)`` for each threshold.

    Examples
    --------
    >>> import pandas as pd, bayesmeta
    >>> df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.4, 0.7], "se": [0.2, 0.25]})
    >>> r = bayesmeta.fit(df, "SMD")
    >>> prior_sensitivity(r, ["halfnormal(1)"], [0.5]).shape[0]
    2
    """
    from bayesmeta.fit import fit_spec

    spec = result.spec
    thresholds = list(spec.mcid) if thresholds is None else list(thresholds)
    direction = direction or spec.mcid_direction
    scale = scale or spec.mcid_scale
    requested = result.provenance.get("engine_requested", "auto")
    fits: list[tuple[str, MetaResult]] = [(_label(result.tau_prior, result.fixed), result)]
    for p in tau_priors:
        alt = spec.replace(effects="random", tau_prior=p, engine=requested)
        fits.append((_label(alt.tau_prior, False), fit_spec(alt, result.data)))
    rows = {}
    for label, r in fits:
        sm = r.summary(ci_prob=ci_prob, scale="natural" if r.is_ratio else "analysis")
        row = {
            "mu_median": sm.loc["mu", "median"],
            "mu_lower": sm.loc["mu", "lower"],
            "mu_upper": sm.loc["mu", "upper"],
            "theta_new_lower": sm.loc["theta_new", "lower"],
            "theta_new_upper": sm.loc["theta_new", "upper"],
            "tau_median": sm.loc["tau", "median"],
        }
        if thresholds:
            pe = r.prob_exceeds(thresholds, direction=direction, scale=scale)
            sign = ">" if direction == "greater" else "<"
            for t, p in zip(thresholds, pe["p_mu"], strict=True):
                row[f"P(mu {sign} {t:g})"] = p
        rows[label] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "prior"
    return out


def _label(prior: Any, fixed: bool) -> str:
    if fixed:
        return "common effect (tau = 0)"
    text = repr(prior).split("  #")[0]
    if prior is not None and prior.note:
        text += f" [{prior.note.split(',')[0]}]"
    return f"tau ~ {text}"

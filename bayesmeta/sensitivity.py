"""Prior sensitivity: how the results move across priors on tau."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bayesmeta import priors as P
from bayesmeta.results import MetaResult

__all__ = ["prior_sensitivity"]


def prior_sensitivity(
    result: MetaResult,
    tau_priors: Sequence[P.Prior | str],
    thresholds: Sequence[float] = (),
    direction: str = "greater",
    scale: str = "natural",
    ci_prob: float = 0.95,
) -> pd.DataFrame:
    """Refit ``result``'s data under each prior on tau (random effects) and tabulate.

    The first row is ``result`` itself. The same prior on mu, likelihood and settings
    are used for every fit.

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
    from bayesmeta.fit import fit

    fits: list[tuple[str, MetaResult]] = [(_label(result), result)]
    s = result.settings
    for p in tau_priors:
        prior = P.parse(p) if isinstance(p, str) else p
        kw = dict(
            model="random",
            likelihood=result.likelihood,
            mu_prior=result.mu_prior,
            tau_prior=prior,
            draws=s["draws"],
            tune=s["tune"],
            chains=s["chains"],
            seed=s["seed"],
            engine=s.get("engine_requested", "auto"),
        )
        if result.baseline_prior is not None:
            kw["baseline_prior"] = result.baseline_prior
        fits.append((_label(None, prior), fit(result.data, **kw)))
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
        if len(thresholds):
            pe = r.prob_exceeds(thresholds, direction=direction, scale=scale)
            sign = ">" if direction == "greater" else "<"
            for t, p in zip(thresholds, pe["p_mu"], strict=True):
                row[f"P(mu {sign} {t:g})"] = p
        rows[label] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "prior"
    return out


def _label(result: MetaResult | None, prior: P.Prior | None = None) -> str:
    if result is not None:
        if result.fixed:
            return "common effect (tau = 0)"
        prior = result.tau_prior
    text = repr(prior).split("  #")[0]
    if prior is not None and prior.note:
        text += f" [{prior.note.split(',')[0]}]"
    return f"tau ~ {text}"

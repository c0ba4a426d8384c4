"""Text for people: the printed result, the MCID table and sentences, the markdown report.

Numbers come from the result's tables; this module only formats them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "markdown_report",
    "mcid_heading",
    "mcid_text",
    "md_table",
    "num",
    "plain_language",
    "result_text",
]


def num(x: float) -> str:
    """Format a number for a report: 3 decimals, or 3 significant digits when tiny or huge.

    Infinite values print as ``inf`` (a moment that does not exist), NaN as ``nan``.

    Examples
    --------
    >>> num(1.23456), num(1e-5), num(float("inf")), num(123456.0)
    ('1.235', '1e-05', 'inf', '1.23e+05')
    """
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    ax = abs(x)
    if ax != 0 and (ax >= 1e5 or ax < 1e-3):
        return f"{x:.3g}"
    return f"{x:.3f}" if ax < 100 else f"{x:.1f}"


def _describe_threshold(t: float, direction: str, ratio: bool) -> str:
    side = "above" if direction == "greater" else "below"
    if ratio:
        change = abs(t - 1) * 100
        if t > 1 and direction == "greater":
            return f"above {t:g} (a relative increase of more than {change:.0f}%)"
        if t < 1 and direction == "less":
            return f"below {t:g} (a relative reduction of more than {change:.0f}%)"
    return f"{side} {t:g}"


def _p(p: float) -> str:
    """Format a probability without claiming certainty: > 0.99 and < 0.01 at the ends."""
    if p >= 0.995:
        return "> 0.99"
    if p < 0.005:
        return "< 0.01"
    return f"{p:.2f}"


def plain_language(result: Any, mcid: pd.DataFrame) -> list[str]:
    """Write one sentence per candidate MCID.

    E.g. "Probability 0.97 that the pooled RR is above 1.25 (a relative increase of more
    than 25%); 0.80 that the effect in a new study is."
    """
    direction = mcid.attrs.get("direction", "greater")
    ratio = result.is_ratio and mcid.attrs.get("scale", "natural") == "natural"
    out = []
    for _, row in mcid.iterrows():
        what = _describe_threshold(row["threshold"], direction, ratio)
        label = f" [{row['label']}]" if isinstance(row.get("label"), str) else ""
        where = f" at {row['at']}" if isinstance(row.get("at"), str) else ""
        subject = f"the mean {result.measure}{where}" if where else f"the pooled {result.measure}"
        text = f"Probability {_p(row['p_mu'])} that {subject} is {what}{label}"
        text += "." if result.fixed else f"; {_p(row['p_new'])} that the effect in a new study is."
        out.append(text)
    return out


def mcid_heading(result: Any, mcid: pd.DataFrame) -> str:
    """Say what the probabilities are ('P(mu > threshold)' or 'P(mu < threshold)')."""
    less = mcid.attrs.get("direction", "greater") == "less"
    sign = "<" if less else ">"
    scale = mcid.attrs.get("scale", "natural")
    unit = f"{result.measure} (ratio)" if result.is_ratio and scale == "natural" else result.measure
    return (
        f"MCID probabilities (effect {'below' if less else 'above'} each threshold): "
        f"P(mu {sign} threshold) for the pooled effect, P(theta_new {sign} threshold) for a "
        f"new study; thresholds as {unit}"
    )


def mcid_text(result: Any, mcid: pd.DataFrame) -> str:
    """Format the MCID table with a heading that says what the probabilities are."""
    cols = [
        c
        for c in ("at", "threshold", "label", "direction", "p_mu", "p_new", "mcse", "mcse_new")
        if c in mcid.columns
    ]
    table = mcid[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}")
    return mcid_heading(result, mcid) + "\n" + table


def md_table(df: pd.DataFrame, index: bool = True, float_format: str = ".4g") -> str:
    """Format a DataFrame as a markdown table (floats with ``float_format``)."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [
            (format(v, float_format) if np.isfinite(v) else num(v))
            if isinstance(v, float)
            else str(v)
            for v in row.tolist()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def result_text(result: Any, ci_prob: float | None = None) -> str:
    """Return the printed report: model, priors, k, intervals, diagnostics verdict."""
    natural = result.is_ratio
    scale = "natural" if natural else "analysis"
    s = result.summary(ci_prob=ci_prob, scale=scale)
    studies = result.studies(ci_prob=ci_prob, scale=scale)
    ci = s.attrs["ci_prob"]
    pct = f"{100 * ci:g}%"
    lines = [
        result.describe_model(),
        f"Measure: {result.data.measure_label}"
        + (" (analysed on the log scale)" if natural else "")
        + f"; k = {result.k} stud{'y' if result.k == 1 else 'ies'}",
        "Priors:",
        f"  mu  ~ {result.mu_prior!r}" + _note(result.prior_notes.get("mu")),
    ]
    if result.fixed:
        lines.append("  tau = 0 (fixed effect)")
    else:
        lines.append(f"  tau ~ {result.tau_prior!r}" + _note(result.prior_notes.get("tau")))
    if result.baseline_prior is not None:
        lines.append(f"  alpha_i (baseline log odds) ~ {result.baseline_prior!r}")
    scale_note = f" ({result.measure}; tau on the log scale)" if natural else ""
    lines.append(f"Posterior medians with {pct} equal-tailed credible intervals{scale_note}:")
    width = max(14, *(len(str(i)) + 2 for i in studies.index)) + 2
    moments = not natural  # mean/sd of a ratio's heavy-tailed posterior mislead; omit
    lines.append(
        f"  {'':<{width}}{'median':>9}  {pct + ' CrI':<22}"
        + (f"{'mean':>9}{'sd':>9}" if moments else "")
    )
    labels = {"mu": "mu (pooled)", "tau": "tau", "theta_new": "theta_new"}

    def row_text(label: str, row: pd.Series) -> str:
        ci_text = f"{num(row['lower'])} to {num(row['upper'])}"
        return f"  {label:<{width}}{num(row['median']):>9}  {ci_text:<22}" + (
            f"{num(row['mean']):>9}{num(row['sd']):>9}" if moments else ""
        )

    for name, row in s.iterrows():
        if result.fixed and name in ("tau", "theta_new"):
            continue  # tau = 0 and theta_new = mu under a common effect
        lines.append(row_text(labels.get(name, str(name)), row))
    lines += _moderator_lines(result, ci_prob, width, row_text)
    lines.append("  Study-specific (shrunken) effects:")
    for name, row in studies.iterrows():
        lines.append(row_text(f"  {name}", row))
    if not result.fixed:
        i2 = result.heterogeneity(ci_prob).loc["I2"]
        lines.append(
            f"Heterogeneity: I^2 median {100 * i2['median']:.0f}% "
            f"({pct} CrI {100 * i2['lower']:.0f}% to {100 * i2['upper']:.0f}%)"
        )
    lines += _implied_lines(result, ci_prob, width)
    for note in result.notes:
        lines.append(f"Note: {note}")
    lines.append(f"Diagnostics: {result.diagnostics.summary_line()}")
    return "\n".join(line.rstrip() for line in lines)


def _moderator_lines(result: Any, ci_prob: float | None, width: int, row_text: Any) -> list[str]:
    d = result.design
    if d is None:
        return []
    if d.subgroup is None:
        out = [f"Moderators: {d.formula} (coefficients above; P(beta > 0)):"]
        coef = result.coefficients(ci_prob)
        for name in d.names:
            out.append(f"  {name:<{width}}P(>0) = {coef.loc[name, 'P(>0)']:.3f}")
        if not result.fixed:
            out.append(f"  share of tau^2 explained: {100 * result.heterogeneity_explained():.0f}%")
        return out
    sg = result.subgroups(ci_prob, scale="natural" if result.is_ratio else "analysis")
    kind = "one tau per group" if sg.attrs["separate_tau"] else "common tau"
    out = [f"Subgroups by {d.subgroup} ({kind}): group means and differences"]
    for name, row in sg.iterrows():
        p = row["P(>0)"]
        out.append(row_text(f"  {name}", row) + ("" if np.isnan(p) else f"  P(>0) = {p:.3f}"))
    bf = sg.attrs.get("bf_no_moderator", np.nan)
    if np.isfinite(bf):
        out.append(f"  Bayes factor for no subgroup effect (common mean): {bf:.3g}")
    return out


def _implied_lines(result: Any, ci_prob: float | None, width: int) -> list[str]:
    if result.likelihood != "binomial":
        return []
    p0 = result.control_risk()
    if not 0 < p0 < 1:
        return [
            f"Implied RR and RD: the pooled observed control risk is {p0:g}; give "
            "control_risk=... to report them"
        ]
    imp = result.implied(ci_prob=ci_prob)
    out = [f"Implied at control risk {imp.attrs['control_risk']:.3f} (medians, 95% CrI):"]
    for name, row in imp.iterrows():
        out.append(
            f"  {name:<{width}}{num(row['median']):>9}  {num(row['lower'])} to {num(row['upper'])}"
        )
    return out


def _note(text: str | None) -> str:
    return f"   [{text}]" if text else ""


def markdown_report(analysis: Any, figures: list[str]) -> str:
    """Write a markdown report of an :class:`~bayesmeta.pipeline.Analysis`.

    Embeds the figures written beside it; includes tau and I^2, the per-study input table,
    the MCID table with the direction in its heading, classical estimates, prior
    sensitivity, diagnostics and provenance.
    """
    result, spec = analysis.result, analysis.spec
    nat = result.is_ratio
    scale = "natural" if nat else "analysis"
    s = result.summary(scale=scale)
    title = spec.title or f"Meta-analysis of {result.data.source}"
    parts = [f"# {title}", ""]
    if spec.description:
        parts += [spec.description, ""]
    parts += [
        f"{result.describe_model()}.",
        "",
        f"- Measure: {result.data.measure_label}"
        + (" (analysed on the log scale; summaries as ratios)" if nat else ""),
        f"- Studies: k = {result.k}",
        f"- Prior on mu: `{result.mu_prior!r}`",
        "- Prior on tau: "
        + ("tau = 0 (fixed effect)" if result.fixed else f"`{result.tau_prior!r}`"),
        "",
        "## Data",
        "",
        md_table(result.data.table, index=False),
        "",
        f"## Posterior summary (medians, {100 * s.attrs['ci_prob']:g}% equal-tailed credible "
        "intervals)",
        "",
        md_table(s[["median", "lower", "upper", "mean", "sd"]]),
        "",
    ]
    d = result.design
    if d is not None:
        parts += ["## Moderators", ""]
        if d.subgroup is None:
            parts += [
                f"Meta-regression `{d.formula}`: coefficients on the analysis scale, with "
                "P(beta > 0).",
                "",
                md_table(result.coefficients()[[*"mean sd median lower upper".split(), "P(>0)"]]),
                "",
            ]
            if not result.fixed:
                share = 100 * result.heterogeneity_explained()
                parts += [f"Share of tau^2 explained by the moderators: {share:.0f}%.", ""]
        else:
            sg = result.subgroups(scale=scale)
            kind = "one tau per group" if sg.attrs["separate_tau"] else "a common tau"
            parts += [
                f"Subgroups by `{d.subgroup}` ({kind}): group means and differences with "
                "P(difference > 0).",
                "",
                md_table(sg),
                "",
            ]
            bf = sg.attrs.get("bf_no_moderator", np.nan)
            if np.isfinite(bf):
                parts += [f"Bayes factor for no subgroup effect: {bf:.3g}.", ""]
    if not result.fixed:
        h = result.heterogeneity()
        parts += [
            "## Heterogeneity",
            "",
            md_table(h[["median", "lower", "upper", "mean", "sd"]]),
            "",
            f"I^2 uses the typical within-study variance {h.attrs['typical_variance']:.4g}.",
            "",
        ]
    parts += [
        "## Study-specific (shrunken) effects",
        "",
        md_table(
            result.studies(scale=scale)[
                ["observed", "observed_lower", "observed_upper", "median", "lower", "upper"]
            ]
        ),
        "",
    ]
    if analysis.mcid is not None:
        parts += [
            "## " + mcid_heading(result, analysis.mcid),
            "",
            md_table(analysis.mcid, index=False),
            "",
        ]
        parts += [f"- {t}" for t in plain_language(result, analysis.mcid)] + [""]
        if spec.mcid_source:
            parts += [f"Candidate MCIDs from the registry: {spec.mcid_source}.", ""]
    if analysis.classical is not None:
        parts += [
            "## Classical estimates (as the review would report them)",
            "",
            md_table(analysis.classical),
            "",
        ]
    if analysis.likelihoods is not None:
        parts += [
            "## Normal approximation vs exact binomial-normal model",
            "",
            md_table(analysis.likelihoods),
            "",
        ]
    if analysis.averaging is not None:
        bf = analysis.averaging.inclusion_bf()
        parts += [
            "## Bayesian model averaging",
            "",
            md_table(analysis.averaging.models()),
            "",
            f"Inclusion Bayes factors: effect {bf['effect']:.4g}, heterogeneity "
            f"{bf['heterogeneity']:.4g}.",
            "",
            md_table(analysis.averaging.summary()),
            "",
        ]
    if analysis.sensitivity is not None:
        parts += ["## Prior sensitivity", "", md_table(analysis.sensitivity), ""]
    if result.notes or analysis.warnings:
        parts += ["## Notes", ""] + [f"- {n}" for n in (*result.notes, *analysis.warnings)] + [""]
    parts += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    prov = result.provenance
    parts += [
        "## Diagnostics",
        "",
        result.diagnostics.summary_line(),
        "",
        "## Provenance",
        "",
        f"- data sha256: `{prov.get('data_sha256')}`",
        f"- seed: {result.spec.seed}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()),
        f"- created: {prov.get('created')}",
        "",
    ]
    return "\n".join(parts)

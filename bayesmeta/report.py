"""Text for people: the MCID table, plain-language sentences and the markdown report."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["markdown_report", "mcid_text", "md_table", "plain_language"]


def _describe_threshold(measure: str, t: float, direction: str, ratio: bool) -> str:
    if ratio:
        change = abs(t - 1) * 100
        if t > 1 and direction == "greater":
            return f"above {t:g} (a relative increase of more than {change:.0f}%)"
        if t < 1 and direction == "less":
            return f"below {t:g} (a relative reduction of more than {change:.0f}%)"
        return f"{'above' if direction == 'greater' else 'below'} {t:g}"
    return f"{'above' if direction == 'greater' else 'below'} {t:g}"


def _p(p: float) -> str:
    """Format a probability without claiming certainty: > 0.99 and < 0.01 at the ends."""
    if p >= 0.995:
        return "> 0.99"
    if p < 0.005:
        return "< 0.01"
    return f"{p:.2f}"


def plain_language(result: Any, mcid: pd.DataFrame, spec: Any = None) -> list[str]:
    """Write one sentence per candidate MCID.

    E.g. "Probability 0.97 that the pooled RR is above 1.25 (a relative increase of more
    than 25%); 0.80 that the effect in a new study is."
    """
    direction = mcid.attrs.get("direction", "greater")
    ratio = result.is_ratio and mcid.attrs.get("scale", "natural") == "natural"
    out = []
    for _, row in mcid.iterrows():
        what = _describe_threshold(result.measure, row["threshold"], direction, ratio)
        label = f" [{row['label']}]" if "label" in row and isinstance(row["label"], str) else ""
        text = f"Probability {_p(row['p_mu'])} that the pooled {result.measure} is {what}{label}"
        if not result.fixed:
            text += f"; {_p(row['p_new'])} that the effect in a new study is."
        else:
            text += "."
        out.append(text)
    return out


def mcid_text(result: Any, mcid: pd.DataFrame) -> str:
    """Format the MCID table with a heading that says what the probabilities are."""
    sign = ">" if mcid.attrs.get("direction", "greater") == "greater" else "<"
    scale = mcid.attrs.get("scale", "natural")
    unit = f"{result.measure} (ratio)" if result.is_ratio and scale == "natural" else result.measure
    head = (
        f"MCID probabilities: P(mu {sign} threshold) for the pooled effect, "
        f"P(theta_new {sign} threshold) for a new study; thresholds as {unit}"
    )
    cols = [
        c for c in ("threshold", "label", "p_mu", "p_new", "mcse", "mcse_new") if c in mcid.columns
    ]
    return head + "\n" + mcid[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}")


def md_table(df: pd.DataFrame, index: bool = True, float_format: str = ".4g") -> str:
    """Format a DataFrame as a markdown table (floats with ``float_format``)."""
    frame = df.reset_index() if index else df
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [format(v, float_format) if isinstance(v, float) else str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_report(
    result: Any,
    mcid: pd.DataFrame | None,
    classical: pd.DataFrame | None,
    spec: Any,
    figures: list[str],
    sensitivity: pd.DataFrame | None = None,
) -> str:
    """Write a markdown report that embeds the figures written beside it."""
    title = spec.title if spec is not None else f"Meta-analysis of {result.data.source}"
    nat = result.is_ratio
    s = result.summary(scale="natural" if nat else "analysis")
    parts = [f"# {title}", ""]
    if spec is not None and spec.description:
        parts += [spec.description, ""]
    parts += [
        f"{result.describe_model()}.",
        "",
        f"- Measure: {result.data.measure_label}"
        + (" (analysed on the log scale; summaries as ratios)" if nat else ""),
        f"- Studies: k = {result.k} ({', '.join(result.data.labels)})",
        f"- Prior on mu: `{result.mu_prior!r}`",
        "- Prior on tau: "
        + ("tau = 0 (fixed effect)" if result.fixed else f"`{result.tau_prior!r}`"),
        "",
        "## Posterior summary (medians, 95% equal-tailed credible intervals)",
        "",
        md_table(s[["median", "lower", "upper", "mean", "sd"]].round(4)),
        "",
    ]
    if mcid is not None:
        parts += [
            "## Probability that the effect exceeds each candidate MCID",
            "",
            md_table(mcid, index=False),
            "",
        ]
        parts += [f"- {t}" for t in plain_language(result, mcid, spec)] + [""]
        if spec is not None and spec.mcid_source:
            parts += [f"Candidate MCIDs from the registry: {spec.mcid_source}.", ""]
    if classical is not None:
        parts += [
            "## Classical estimates (as the review would report them)",
            "",
            md_table(classical.round(4)),
            "",
        ]
    if sensitivity is not None:
        parts += ["## Prior sensitivity", "", md_table(sensitivity.round(4)), ""]
    parts += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    parts += [
        "## Diagnostics",
        "",
        result.diagnostics.summary_line(),
        "",
        "## Provenance",
        "",
        f"- data sha256: `{result.provenance.get('data_sha256')}`",
        f"- seed: {result.settings.get('seed')}",
        "- versions: "
        + ", ".join(f"{k} {v}" for k, v in result.provenance.get("versions", {}).items()),
        f"- created: {result.provenance.get('created')}",
        "",
    ]
    return "\n".join(parts)

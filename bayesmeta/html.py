"""Self-contained HTML reports (Jinja2 templates in ``resources/templates``).

Every page carries its own styles and figures (inline SVG, or PNG as a base64 ``data:``
URI): no script, no CDN, no network resource. :func:`write_analysis_html` writes the
report of one :class:`~bayesmeta.pipeline.Analysis`; :func:`review_html` and
:func:`sof_page` are used by :meth:`bayesmeta.review.ReviewResult.write`.

Examples
--------
>>> import pandas as pd, bayesmeta
>>> from bayesmeta.html import analysis_html
>>> df = pd.DataFrame({"study": ["A", "B"], "estimate": [0.4, 0.7], "se": [0.2, 0.25]})
>>> a = bayesmeta.run_analysis(bayesmeta.AnalysisSpec.from_kwargs(
...     data=df, measure="SMD", mcid=[0.2], seed=1, title="Demo"))
>>> page = analysis_html(a, forest_svg="<svg></svg>")
>>> "<h1>Demo</h1>" in page, "http" in page.split("<body>")[1].split("<footer>")[0]
(True, False)
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from bayesmeta.network.analysis import NetworkAnalysis
    from bayesmeta.pipeline import Analysis
    from bayesmeta.review import ReviewResult

__all__ = [
    "analysis_html",
    "forest_figure",
    "network_html",
    "png_data_uri",
    "review_html",
    "sof_page",
    "write_analysis_html",
]

#: Above this many analyses the review report links to each forest plot instead of
#: embedding it (keeps report.html small).
EMBED_FORESTS_MAX = 40


@cache
def _env() -> Any:
    import jinja2

    from bayesmeta import __version__

    root = Path(__file__).parent / "resources" / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    env.globals["fmtnum"] = _fmtnum
    return env


def _fmtnum(v: float, fmt: str = "{:.4g}") -> str:
    import math

    if isinstance(v, float) and math.isnan(v):
        return ""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, int):
        return str(v)
    return fmt.format(v)


def png_data_uri(fig: Any, dpi: int = 110) -> str:
    """Render a matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _svg_text(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def forest_figure(
    analysis: Analysis,
    *,
    favours: tuple[str, str] | None = None,
    groups: tuple[str, str] | None = None,
    subgroups: str | None = None,
    svg_path: str | os.PathLike[str] | None = None,
    png_path: str | os.PathLike[str] | None = None,
    dpi: int = 300,
) -> str:
    """Draw the forest plot of an analysis; save it as SVG and PNG; return the inline SVG."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    from bayesmeta import plots

    spec = analysis.spec
    nat = list(spec.mcid) if (spec.mcid and spec.mcid_scale == "natural") else None
    labels = list(spec.mcid_labels) if (nat and spec.mcid_labels) else None
    design = analysis.result.design
    if design is not None and design.subgroup is not None:
        fig = plots.subgroup_forest(analysis.result, mcid=nat, title=spec.title or None)
    elif design is not None:
        fig = plots.bubble(analysis.result, mcid=nat, mcid_labels=labels, title=spec.title or None)
    else:
        fig = plots.forest(
            analysis.result,
            mcid=nat,
            mcid_labels=labels,
            title=spec.title or None,
            favours=favours,
            groups=groups,
            subgroups=subgroups,
        )
    try:
        svg = _svg_text(fig)
        if svg_path is not None:
            Path(svg_path).write_text(svg, encoding="utf-8")
        if png_path is not None:
            fig.savefig(png_path, dpi=dpi)
    finally:
        plt.close(fig)
    return svg


def _context(analysis: Analysis) -> dict[str, Any]:
    from bayesmeta.report import mcid_heading, plain_language

    r = analysis.result
    prov = {
        "created": r.provenance.get("created"),
        "engine": r.engine,
        "data source": r.provenance.get("data_source"),
        "data sha256": r.provenance.get("data_sha256"),
        "spec file": r.provenance.get("spec_file"),
        "spec sha256": r.provenance.get("spec_sha256"),
        "seed": r.spec.seed,
        "priors": f"mu ~ {r.mu_prior!r}; tau ~ {r.tau_prior!r}",
        "versions": ", ".join(f"{k} {v}" for k, v in r.provenance.get("versions", {}).items()),
    }
    mcid = analysis.mcid
    return {
        "title": analysis.spec.title or "Bayesian meta-analysis",
        "page_title": analysis.spec.title or "bayesmeta report",
        "description": analysis.spec.description,
        "model": r.describe_model(),
        "measure": r.measure,
        "k": r.k,
        "ci": f"{100 * r.spec.ci_prob:g}% equal-tailed credible intervals",
        "summary": analysis.summary_table().drop(
            columns=["ess_bulk", "ess_tail", "r_hat"], errors="ignore"
        ),
        "heterogeneity": None if r.fixed else r.heterogeneity(),
        "mcid": None if mcid is None else mcid.drop(columns=["mcse", "mcse_new"], errors="ignore"),
        "mcid_heading": "" if mcid is None else mcid_heading(r, mcid),
        "sentences": [] if mcid is None else plain_language(r, mcid),
        "classical": analysis.classical,
        "sensitivity": analysis.sensitivity,
        "likelihoods": analysis.likelihoods,
        "averaging": None if analysis.averaging is None else analysis.averaging.models(),
        "moderators": _moderator_table(r),
        "studies": r.studies(scale=analysis.scale).drop(
            columns=["ess_bulk", "ess_tail", "r_hat"], errors="ignore"
        ),
        "data": r.data.table,
        "warnings": list(analysis.warnings) + list(r.notes),
        "prov": {k: v for k, v in prov.items() if v not in (None, "")},
        "created": r.provenance.get("created"),
    }


def _moderator_table(r: Any) -> pd.DataFrame | None:
    d = r.design
    if d is None:
        return None
    if d.subgroup is not None:
        return r.subgroups(scale="natural" if r.is_ratio else "analysis")
    return r.coefficients()


def analysis_html(
    analysis: Analysis,
    *,
    forest_svg: str | None = None,
    figures: Sequence[tuple[str, str]] = (),
    random: Analysis | None = None,
    meta: dict[str, Any] | None = None,
    back_link: str | None = "../report.html",
) -> str:
    """Render the HTML report of one analysis.

    Parameters
    ----------
    analysis : Analysis
    forest_svg : str, optional
        The forest plot as inline SVG (:func:`forest_figure`).
    figures : sequence of (name, data URI)
        More figures (PNG data URIs, :func:`png_data_uri`).
    random : Analysis, optional
        The random-effects companion of a common-effect analysis.
    meta : dict, optional
        Review metadata (shown as provenance).
    back_link : str, optional
        Link to the review report (only with ``meta``).
    """
    ctx = _context(analysis)
    ctx["forest_svg"] = forest_svg
    ctx["figures"] = list(figures)
    ctx["random_summary"] = (
        None
        if random is None
        else random.summary_table().drop(columns=["ess_bulk", "ess_tail", "r_hat"], errors="ignore")
    )
    ctx["back_link"] = back_link if meta else None
    if meta:
        ctx["prov"] = {
            "review file": meta.get("source"),
            "review analysis": meta.get("id"),
            **ctx["prov"],
        }
    return _env().get_template("analysis.html.j2").render(**ctx)


def write_analysis_html(
    analysis: Analysis,
    path: str | os.PathLike[str],
    figure_files: Sequence[str | os.PathLike[str]] | None = None,
) -> Path:
    """Write the self-contained HTML report of one analysis (``report.html``).

    ``figure_files``: PNGs already drawn for this analysis (as
    :meth:`bayesmeta.pipeline.Analysis.write` does); they are embedded as data URIs. The
    forest plot is drawn as inline SVG. Without ``figure_files`` the MCID curve and the
    posterior of tau are drawn here.
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    from bayesmeta import plots

    r, spec = analysis.result, analysis.spec
    svg = forest_figure(analysis)
    figures = []
    if figure_files is not None:
        for f in figure_files:
            f = Path(f)
            if f.name in ("forest.png",):
                continue  # drawn as SVG above
            data = base64.b64encode(f.read_bytes()).decode("ascii")
            figures.append((_FIGURE_TITLES.get(f.name, f.stem), f"data:image/png;base64,{data}"))
    else:
        nat = list(spec.mcid) if (spec.mcid and spec.mcid_scale == "natural") else None
        if r.design is None:
            fig = plots.mcid_curve(
                r,
                candidates=nat,
                direction=spec.mcid_direction,
                labels=list(spec.mcid_labels) if (nat and spec.mcid_labels) else None,
            )
            figures.append(("MCID curve", png_data_uri(fig)))
            plt.close(fig)
        if not r.fixed:
            fig = plots.tau_posterior(r)
            figures.append(("Posterior of tau", png_data_uri(fig)))
            plt.close(fig)
    path = Path(path)
    path.write_text(
        analysis_html(analysis, forest_svg=svg, figures=figures, back_link=None),
        encoding="utf-8",
    )
    return path


def network_html(analysis: NetworkAnalysis, figures: Sequence[tuple[str, str]] = ()) -> str:
    """Return the self-contained HTML report of a network meta-analysis.

    The tables are the text and markdown reports' own sections (every pair's effects as
    columns); ``figures`` are ``(title, data URI)`` pairs.
    """
    from bayesmeta.network.report import _header, _sections

    res, spec = analysis.result, analysis.spec
    header = _header(res)
    sections = [
        (title, df.reset_index() if any(n is not None for n in df.index.names) else df)
        for title, df in _sections(res, spec.mcid, spec.mcid_direction)
    ]
    return (
        _env()
        .get_template("network.html.j2")
        .render(
            page_title=spec.title or header[0],
            title=spec.title or header[0],
            header=header,
            warnings=analysis.warnings,
            figures=list(figures),
            sections=sections,
            prov={k: v for k, v in analysis.provenance.items() if k != "spec"},
            created=analysis.provenance.get("created"),
        )
    )


_FIGURE_TITLES = {
    "mcid.png": "MCID curve",
    "tau.png": "Posterior of tau",
    "bubble.png": "Meta-regression (bubble plot)",
    "trace.png": "MCMC trace plots",
    "rank.png": "MCMC rank plots",
}


def sof_page(review: ReviewResult, table: pd.DataFrame) -> str:
    """Render the SoF table as a standalone HTML page (``sof.html``)."""
    from bayesmeta.sof import to_html

    return (
        _env()
        .get_template("sof.html.j2")
        .render(
            title=review.title,
            page_title=f"Summary of findings: {review.title}",
            n=len(review.items),
            source=review.source,
            sof_table=to_html(table),
            created=None,
        )
    )


def review_html(
    review: ReviewResult,
    table: pd.DataFrame,
    folders: Sequence[str],
    forests: dict[str, str] | None = None,
) -> str:
    """Render the review report (``report.html``): SoF table, every analysis, provenance."""
    import hashlib
    from datetime import UTC, datetime

    from bayesmeta.sof import to_html

    forests = forests or {}
    embed = len(review.items) <= EMBED_FORESTS_MAX
    items = []
    for it, folder in zip(review.items, folders, strict=True):
        summary = ""
        if it.primary is not None:
            r = it.primary.result
            s = r.summary(scale="natural" if r.is_ratio else "analysis").loc["mu"]
            summary = (
                f"{r.measure} {s['median']:.3g} [{s['lower']:.3g}, {s['upper']:.3g}], "
                f"{r.describe_model()}, k = {r.k}"
            )
        items.append(
            {
                "id": it.id,
                "title": it.title,
                "error": it.error,
                "summary": summary,
                "folder": folder,
                "warnings": it.warnings,
                "forest": forests.get(folder) if embed else None,
            }
        )
    prov: dict[str, Any] = {"review file": review.source}
    src = Path(review.source)
    if src.is_file():
        prov["review sha256"] = hashlib.sha256(src.read_bytes()).hexdigest()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    prov["created"] = created
    from bayesmeta.fit import _versions

    prov["versions"] = ", ".join(f"{k} {v}" for k, v in _versions("exact").items())
    return (
        _env()
        .get_template("review.html.j2")
        .render(
            title=review.title,
            page_title=review.title,
            source=review.source,
            items=items,
            skipped=review.skipped,
            sof_table=to_html(table),
            prov=prov,
            created=created,
        )
    )

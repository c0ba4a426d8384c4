"""Whole reviews: every analysis of a RevMan review (or a folder of analysis files) at once.

:func:`read_review` turns a review into one :class:`~bayesmeta.spec.AnalysisSpec` per
analysis; :func:`run_review` runs them all (the review's own fixed or random choice as the
primary analysis, plus random effects) and returns a :class:`ReviewResult`, whose
:meth:`~ReviewResult.write` produces ``sof.csv``, ``sof.md``, ``sof.html``, ``report.html``
and one folder per analysis. ``bayesmeta review FILE --out DIR`` is the command.

A review can be

* a RevMan file in any format :func:`bayesmeta.revman.read_review` reads (``.rm5``, the
  RevMan 5 CSV export, a RevMan Web data package);
* a folder of analysis files (``models/``);
* a review spec (TOML) listing analysis files::

      [review]
      title = "IVIg in myositis"
      analyses = ["ivig_response_tis20.toml", "ivig_cdasi.toml"]   # relative to this file
      mcid_map = "mcid_map.toml"                                    # optional

Candidate MCIDs for RevMan analyses come from a small TOML mapping (``--mcid-map``); the
first entry whose ``match`` (a case-insensitive text found in the id, comparison or
outcome) and ``measure`` both fit is used::

      [[mcid]]
      match = "mortality"
      values = [0.9, 0.8]
      direction = "less"
      labels = ["10% fewer deaths", "20% fewer deaths"]

      [[mcid]]
      measure = "SMD"
      registry = "smd-cohen"       # an entry of bayesmeta's MCID registry

Without a matching entry the registry is used by scale (SMD: Cohen's 0.2/0.5/0.8; a mean
difference whose outcome names a registry instrument, e.g. CDASI); otherwise none.

Examples
--------
>>> from pathlib import Path
>>> specs = read_review(Path(__file__).parents[1] / "tests/data/revman/fleiss1993.rm5")
>>> [(s.measure, s.effects) for s in specs[:2]]
[('OR', 'fixed'), ('MD', 'fixed')]
>>> specs[0].title
'Examples from Fleiss (1993): Aspirin for Preventing Death after Myocardial Infarction'
"""

from __future__ import annotations

import os
import re
import sys
import time
import tomllib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayesmeta.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    import pandas as pd

    from bayesmeta.pipeline import Analysis
    from bayesmeta.spec import AnalysisSpec

__all__ = [
    "ReviewError",
    "ReviewItem",
    "ReviewResult",
    "add_review_parser",
    "cmd_review",
    "read_review",
    "run_review",
]

#: Key under which review metadata ride along in ``spec.data.attrs``.
_META = "bayesmeta_review"
_MAP_KEYS = {"match", "measure", "values", "registry", "direction", "labels", "scale"}


class ReviewError(DataError):
    """A review, review spec or MCID map that cannot be used; the message names the file."""


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    title: str
    source: str
    specs: list[AnalysisSpec]
    skipped: list[str]


def _load_map(path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewError(f"{p}: no such MCID map") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReviewError(f"{p}: not a readable MCID map (TOML): {exc}") from None
    entries = raw.get("mcid", [])
    unknown = set(raw) - {"mcid"}
    if unknown or not isinstance(entries, list):
        raise ReviewError(f"{p}: an MCID map holds [[mcid]] entries only (found {sorted(raw)})")
    for i, e in enumerate(entries, 1):
        bad = set(e) - _MAP_KEYS
        if bad:
            raise ReviewError(
                f"{p}: [[mcid]] entry {i}: unknown keys {sorted(bad)} "
                f"(known: {', '.join(sorted(_MAP_KEYS))})"
            )
        if ("values" in e) == ("registry" in e):
            raise ReviewError(f"{p}: [[mcid]] entry {i}: give values or registry (one of them)")
        e["_where"] = f"{p}: [[mcid]] entry {i}"
    return entries


def _registry_mcid(measure: str, outcome: str) -> dict[str, Any] | None:
    from bayesmeta import mcid

    for e in mcid.entries().values():
        if e.kind != "effect":
            continue
        if measure == "SMD" and e.scale == "SMD":
            return {"registry": e.name}
        if measure == "MD" and e.scale.startswith("MD"):
            key = e.outcome.split(" (")[0].lower()
            if key and key in outcome.lower():
                return {"registry": e.name}
    return None


def _benefit_side(favours: tuple[str, str] | None, groups: tuple[str, str]) -> str | None:
    """``less`` when the left label favours the intervention, ``greater`` when the right."""
    if not favours:
        return None
    g = groups[0].lower()
    left, right = (f.lower() for f in favours)
    for word in (g, "experimental", "intervention", "treatment"):
        if word and word in left and word not in right:
            return "less"
        if word and word in right and word not in left:
            return "greater"
    return None


def _mcid_for(
    meta: dict[str, Any], measure: str, entries: list[dict[str, Any]]
) -> tuple[dict[str, Any], str | None]:
    """MCID keyword arguments for a spec, and where they come from."""
    from bayesmeta import mcid as registry

    text = f"{meta['id']} {meta['comparison']} {meta['outcome']} {meta.get('subgroup') or ''}"
    chosen, origin = None, None
    for e in entries:
        if "match" in e and str(e["match"]).lower() not in text.lower():
            continue
        if "measure" in e and str(e["measure"]).upper() != measure:
            continue
        chosen, origin = e, e["_where"]
        break
    if chosen is None:
        chosen = _registry_mcid(measure, meta["outcome"])
        origin = f"registry {chosen['registry']} (by scale)" if chosen else None
    if chosen is None:
        return {}, None
    if "registry" in chosen:
        try:
            entry = registry.get(str(chosen["registry"]))
        except KeyError as exc:
            raise ReviewError(f"{chosen.get('_where', 'registry')}: {exc.args[0]}") from None
        values, direction = list(entry.thresholds), entry.direction
        labels: list[str] | None = list(entry.labels)
        side = _benefit_side(meta.get("favours"), meta["groups"])
        if side and side != direction and measure in ("SMD", "MD"):
            values, direction = [-v for v in values], side
            origin = f"{origin}, signs turned: lower favours the intervention in this review"
        out = {"mcid": values, "mcid_direction": direction, "mcid_labels": labels}
    else:
        out = {
            "mcid": chosen["values"],
            "mcid_direction": chosen.get("direction", "greater"),
            "mcid_labels": chosen.get("labels"),
            "mcid_scale": chosen.get("scale", "natural"),
        }
    out["mcid_source"] = origin
    return out, origin


def _revman_specs(path: Path, entries: list[dict[str, Any]]) -> _Source:
    from bayesmeta import revman
    from bayesmeta.spec import AnalysisSpec

    review = revman.read_review(path)
    specs = []
    for a in review.analyses:
        a.to_study_data()  # malformed data: a RevManError naming file, comparison, outcome
        meta = {
            "id": a.id,
            "comparison": a.comparison,
            "outcome": a.outcome,
            "subgroup": a.subgroup,
            "groups": a.group_labels,
            "favours": a.favours_labels,
            "method": a.method,
            "data_type": a.data_type,
            "revman_totals": dict(a.revman_totals),
            "notes": list(a.notes),
            "source": str(path),
        }
        title = f"{a.comparison}: {a.outcome}" + (f" [{a.subgroup}]" if a.subgroup else "")
        mcid, _ = _mcid_for(meta, a.measure, entries)
        table = a.table.copy()
        if table["subgroup"].isna().all():
            table = table.drop(columns="subgroup")
        table.attrs[_META] = meta
        try:
            spec = AnalysisSpec.from_kwargs(
                data=table,
                measure=a.measure,
                effects=a.effects,
                title=title,
                description=f"RevMan analysis {a.id} ({a.method}, {a.effects} effect)",
                seed=1,
                source=path,
                **mcid,
            )
        except DataError as exc:
            raise ReviewError(f"{path}: analysis {a.title}: {exc}") from None
        specs.append(spec)
    return _Source(review.title, str(path), specs, [str(s) for s in review.skipped])


def _toml_specs(path: Path, entries: list[dict[str, Any]]) -> _Source:
    from bayesmeta.spec import AnalysisSpec

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReviewError(f"{path}: not a readable TOML file: {exc}") from None
    if "review" not in raw:
        spec = AnalysisSpec.from_toml(path)
        if spec.is_network:  # a summary-of-findings row is one pairwise comparison
            return _Source(path.stem, str(path), [], [f"{path}: a network meta-analysis"])
        return _Source(path.stem, str(path), [spec], [])
    rv = raw["review"]
    files = rv.get("analyses")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ReviewError(f"{path}: review.analyses must be a list of analysis files")
    if "mcid_map" in rv and not entries:
        entries = _load_map(path.parent / rv["mcid_map"])
    specs: list[AnalysisSpec] = []
    skipped: list[str] = []
    for f in files:
        sub = _read(path.parent / f, entries)
        specs += sub.specs
        skipped += sub.skipped
    return _Source(str(rv.get("title", path.stem)), str(path), specs, skipped)


def _read(path: str | os.PathLike[str], entries: list[dict[str, Any]]) -> _Source:
    p = Path(path)
    if p.is_dir() and (any(p.glob("*.toml")) or not any(p.glob("*.csv"))):
        # a folder of analysis files (a folder of CSVs is an unpacked RevMan data package)
        files = sorted(p.glob("*.toml"))
        if not files:
            raise ReviewError(f"{p}: a folder with no analysis files (*.toml)")
        specs: list[AnalysisSpec] = []
        skipped: list[str] = []
        for f in files:
            sub = _toml_specs(f, entries)
            specs += sub.specs
            skipped += sub.skipped
        return _Source(p.resolve().name, str(p), specs, skipped)
    if p.suffix.lower() == ".toml":
        if not p.exists():
            raise ReviewError(f"{p}: no such file")
        return _toml_specs(p, entries)
    return _revman_specs(p, entries)


def read_review(
    path: str | os.PathLike[str], *, mcid_map: str | os.PathLike[str] | None = None
) -> list[AnalysisSpec]:
    """List the analyses of a review as specs.

    Parameters
    ----------
    path : path
        A RevMan file (``.rm5``, RevMan 5 CSV export, data package), a folder of analysis
        files, or a review spec (TOML with a ``[review]`` table listing analysis files).
    mcid_map : path, optional
        A TOML file of ``[[mcid]]`` entries (see the module docstring).

    Returns
    -------
    list of AnalysisSpec
        For RevMan analyses: ``data`` is the study table (with ``year`` and, for an
        outcome with subgroups, ``subgroup``), ``measure`` and ``effects`` as the review,
        ``title`` ``"comparison: outcome [subgroup]"``, the MCIDs found (or none) and a
        fixed seed.

    Raises
    ------
    bayesmeta.revman.RevManError
        A malformed RevMan file (the message names the file, comparison and outcome).
    ReviewError
        A review spec or MCID map that cannot be used.
    """
    return _read(path, _load_map(mcid_map)).specs


def _meta_of(spec: AnalysisSpec) -> dict[str, Any]:
    data = spec.data
    meta = getattr(data, "attrs", {}).get(_META) if data is not None else None
    if meta:
        return dict(meta)
    stem = Path(spec.source).stem if spec.source else "analysis"
    return {
        "id": stem,
        "comparison": "",
        "outcome": spec.title or stem,
        "subgroup": None,
        "groups": ("intervention", "control"),
        "favours": None,
        "source": str(spec.source) if spec.source else None,
        "notes": [],
    }


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class ReviewItem:
    """One analysis of a review and its results.

    Attributes
    ----------
    id : str
        RevMan's id (``"1.2"``, ``"2.1.1"`` for a subgroup) or the analysis file's stem.
    spec : AnalysisSpec
    meta : dict
        ``comparison``, ``outcome``, ``subgroup``, ``groups`` (intervention, comparator),
        ``favours`` (forest-plot labels), ``revman_totals`` and ``source``.
    primary : Analysis or None
        The review's own choice of fixed or random effects (None if it failed).
    random : Analysis or None
        Random effects, when the primary analysis is a common effect.
    error : str or None
        Why the analysis failed.
    """

    id: str
    spec: AnalysisSpec
    meta: dict[str, Any]
    primary: Analysis | None = None
    random: Analysis | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The analysis title."""
        return self.spec.title or self.id

    @property
    def favours(self) -> tuple[str, str] | None:
        """Forest-plot labels (left, right): the review's, else from the group labels."""
        if self.meta.get("favours"):
            return tuple(self.meta["favours"])  # type: ignore[return-value]
        g1, g2 = self.meta.get("groups") or ("intervention", "control")
        if not self.spec.mcid:
            return None
        if self.spec.mcid_direction == "less":
            return (f"Favours {g1}", f"Favours {g2}")
        return (f"Favours {g2}", f"Favours {g1}")

    def classical_revman(self) -> tuple[str, float, float, float] | None:
        """RevMan's stored pooled result (label, estimate, lower, upper), if any."""
        t = self.meta.get("revman_totals") or {}
        if {"estimate", "ci_lower", "ci_upper"} <= set(t):
            model = "random" if self.spec.effects == "random" else "fixed"
            label = f"RevMan {self.meta.get('method', '')} {model}".replace("  ", " ")
            return (label, float(t["estimate"]), float(t["ci_lower"]), float(t["ci_upper"]))
        return None


def _run(spec: AnalysisSpec, sink: list[str]) -> Analysis:
    from bayesmeta.pipeline import run_analysis

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the SoF table uses the primary analysis only: skip the likelihood comparison
        a = run_analysis(spec, compare_likelihoods=False)
    for w in caught:
        text = str(w.message)
        if text not in sink:
            sink.append(text)
    return a


def _progress_callback(progress: bool | Callable[..., Any] | None) -> Callable[..., Any] | None:
    if callable(progress):
        return progress
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    start = time.monotonic()

    def bar(i: int, n: int, title: str) -> None:
        width = 30
        done = int(width * i / max(n, 1))
        eta = ""
        if i:
            rest = (time.monotonic() - start) / i * (n - i)
            eta = f" {rest:4.0f}s left"
        line = f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n}{eta} {title[:40]:<40}"
        sys.stderr.write(line)
        if i == n:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return bar


@dataclass(eq=False)
class ReviewResult:
    """Every analysis of a review, run; the SoF table; :meth:`write`.

    Attributes
    ----------
    title, source : str
    items : list of ReviewItem
    skipped : list of str
        What the reader could not analyse, with reasons.
    """

    title: str
    source: str
    items: list[ReviewItem]
    skipped: list[str] = field(default_factory=list)

    def outcomes(self) -> list[Any]:
        """Return the SoF rows' inputs (:class:`bayesmeta.sof.Outcome`)."""
        from bayesmeta.sof import Outcome

        return [
            Outcome(
                title=it.title,
                primary=it.primary,
                random=it.random,
                classical=it.classical_revman(),
                group_labels=tuple(it.meta.get("groups") or ("intervention", "comparator")),
                error=it.error,
            )
            for it in self.items
        ]

    def sof_numbers(self) -> pd.DataFrame:
        """Every number of the SoF table (:func:`bayesmeta.sof.sof_numbers`)."""
        from bayesmeta.sof import sof_numbers

        return sof_numbers(self.outcomes())

    def sof(self) -> pd.DataFrame:
        """Return the summary-of-findings table as text (:func:`bayesmeta.sof.sof_table`)."""
        from bayesmeta.sof import sof_table

        return sof_table(self.outcomes())

    def folder_names(self) -> list[str]:
        """One folder name per analysis: ``<n>-<id or slug>``."""
        names = []
        for i, it in enumerate(self.items, 1):
            slug = re.sub(r"[^A-Za-z0-9._-]+", "-", it.id).strip("-")[:60] or "analysis"
            names.append(f"{i:03d}-{slug}")
        return names

    def text(self) -> str:
        """Return a short printed summary: one line per analysis, then what was skipped."""
        lines = [f"{self.title}: {len(self.items)} analyses"]
        for it in self.items:
            if it.primary is None:
                lines.append(f"  {it.id}  {it.title}: FAILED: {it.error}")
                continue
            r = it.primary.result
            s = r.summary(scale="natural" if r.is_ratio else "analysis").loc["mu"]
            lines.append(
                f"  {it.id}  {it.title}: {r.measure} {s['median']:.3g} "
                f"[{s['lower']:.3g}, {s['upper']:.3g}] ({r.model}, k = {r.k})"
            )
        lines += [f"  skipped: {s}" for s in self.skipped]
        return "\n".join(lines)

    def write(
        self,
        out_dir: str | os.PathLike[str],
        *,
        force: bool = False,
        progress: bool | Callable[..., Any] | None = False,
        png_dpi: int | None = None,
        workers: int | None = None,
    ) -> Path:
        """Write the review's outputs atomically (a temporary directory, then rename).

        ``sof.csv``, ``sof.md``, ``sof.html`` (the SoF table), ``sof_numbers.csv``,
        ``report.html`` (the review: SoF table, one section per analysis, skipped
        analyses, provenance) and one folder per analysis with ``summary.csv``,
        ``studies.csv``, ``mcid.csv``, ``classical.csv``, ``forest.svg`` (vector, for
        publication), ``forest.png`` when ``png_dpi`` is given (e.g. 300) and
        ``report.html``. Folders are written by ``workers`` processes (default: up to 2,
        by fork where available).
        """
        from bayesmeta import html
        from bayesmeta import sof as S
        from bayesmeta.pipeline import atomic_directory

        out = Path(out_dir)
        with atomic_directory(out, force=force) as tmp:
            outcomes = self.outcomes()
            numbers = S.sof_numbers(outcomes)
            table = S.sof_table(outcomes, numbers)
            S.to_csv(table, tmp / "sof.csv")
            numbers.to_csv(tmp / "sof_numbers.csv", index=False, float_format="%.10g")
            (tmp / "sof.md").write_text(
                f"# Summary of findings: {self.title}\n\n{S.to_markdown(table)}\n",
                encoding="utf-8",
            )
            (tmp / "sof.html").write_text(html.sof_page(self, table), encoding="utf-8")
            folders = self.folder_names()
            bar = _progress_callback(progress)
            thumbs = _write_items(self.items, [tmp / f for f in folders], png_dpi, workers, bar)
            (tmp / "report.html").write_text(
                html.review_html(self, table, folders, thumbs), encoding="utf-8"
            )
        return out


_JOBS: tuple[list[ReviewItem], list[Path], int | None] | None = None


def _job(i: int) -> tuple[int, str]:
    assert _JOBS is not None
    items, dirs, dpi = _JOBS
    return i, _write_item(items[i], dirs[i], dpi)


def _write_items(
    items: list[ReviewItem],
    dirs: list[Path],
    png_dpi: int | None,
    workers: int | None,
    bar: Callable[..., Any] | None,
) -> dict[str, str]:
    """Write every analysis folder (in parallel by fork); return each folder's forest SVG."""
    import multiprocessing as mp

    global _JOBS
    n = len(items)
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    out: dict[str, str] = {}
    parallel = workers > 1 and n >= 4 and "fork" in mp.get_all_start_methods()
    if bar:
        bar(0, n, "writing")
    if parallel:
        _JOBS = (items, dirs, png_dpi)
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                for done, (i, svg) in enumerate(pool.imap_unordered(_job, range(n)), 1):
                    out[dirs[i].name] = svg
                    if bar:
                        bar(done, n, items[i].title)
        finally:
            _JOBS = None
        return out
    for i, (it, d) in enumerate(zip(items, dirs, strict=True)):
        out[d.name] = _write_item(it, d, png_dpi)
        if bar:
            bar(i + 1, n, it.title)
    return out


def _write_item(it: ReviewItem, d: Path, png_dpi: int | None = None) -> str:
    """Write one analysis folder; return the forest plot's SVG for the review report."""
    from bayesmeta import html

    d.mkdir(exist_ok=True)
    a = it.primary
    if a is None:
        (d / "error.txt").write_text(f"{it.error}\n", encoding="utf-8")
        return ""
    r = a.result
    scale = a.scale
    a.summary_table().to_csv(d / "summary.csv", float_format="%.10g")
    r.studies(scale=scale).to_csv(d / "studies.csv", float_format="%.10g")
    if a.mcid is not None:
        a.mcid.to_csv(d / "mcid.csv", index=False, float_format="%.10g")
    if a.classical is not None:
        a.classical.to_csv(d / "classical.csv", float_format="%.10g")
    if it.random is not None:
        it.random.summary_table().to_csv(d / "summary_random.csv", float_format="%.10g")
    svg = html.forest_figure(
        a,
        favours=it.favours,
        groups=tuple(it.meta.get("groups") or ("Experimental", "Control")),
        subgroups="subgroup" if "subgroup" in r.data.covariates.columns else None,
        svg_path=d / "forest.svg",
        png_path=d / "forest.png" if png_dpi else None,
        dpi=png_dpi or 300,
    )
    (d / "report.html").write_text(
        html.analysis_html(a, forest_svg=svg, random=it.random, meta=it.meta), encoding="utf-8"
    )
    return svg


def run_review(
    path_or_specs: str | os.PathLike[str] | Sequence[AnalysisSpec],
    *,
    mcid_map: str | os.PathLike[str] | None = None,
    progress: bool | Callable[[int, int, str], Any] | None = None,
    title: str | None = None,
) -> ReviewResult:
    """Run every analysis of a review.

    Each analysis runs as the review has it (fixed or random effects: the primary
    analysis) and, when that is a common effect, also with random effects (for the
    prediction and the new-study probabilities; with the analysis file's first
    sensitivity prior on tau when it has one, else the default prior). Exact engines are
    used wherever they apply (``engine="auto"``). An analysis that fails is kept with its
    error (the SoF row says so); the others go on.

    Parameters
    ----------
    path_or_specs : path or sequence of AnalysisSpec
        A review (see :func:`read_review`) or specs.
    mcid_map : path, optional
        A TOML file of ``[[mcid]]`` entries.
    progress : bool or callable, optional
        A progress bar on stderr (default: when stderr is a terminal), or a function
        ``progress(done, total, title)``.
    title : str, optional
        The review's title (default: from the file).

    Returns
    -------
    ReviewResult

    Examples
    --------
    >>> from pathlib import Path
    >>> res = run_review(Path(__file__).parents[1] / "tests/data/revman/fleiss1993.csv",
    ...                  progress=False)
    >>> [it.id for it in res.items]
    ['1.1', '1.2', '2.1', '2.1.1', '2.1.2', '2.2']
    >>> res.items[0].primary.result.model, res.items[0].random.result.model
    ('fixed', 'random')
    """
    if isinstance(path_or_specs, str | os.PathLike):
        src = _read(path_or_specs, _load_map(mcid_map))
    else:
        specs = list(path_or_specs)
        src = _Source(title or "review", "(specs)", specs, [])
    bar = _progress_callback(progress)
    items: list[ReviewItem] = []
    n = len(src.specs)
    for i, spec in enumerate(src.specs):
        meta = _meta_of(spec)
        if bar:
            bar(i, n, spec.title or meta["id"])
        item = ReviewItem(id=str(meta["id"]), spec=spec, meta=meta)
        try:
            item.primary = _run(spec, item.warnings)
            if spec.fixed:
                try:
                    # the analysis file's first sensitivity prior on tau, if any, else the default
                    tau = {"tau_prior": spec.sensitivity[0]} if spec.sensitivity else {}
                    item.random = _run(
                        spec.replace(effects="random", sensitivity=(), **tau), item.warnings
                    )
                except DataError as exc:
                    item.warnings.append(f"random effects not fitted: {exc}")
        except DataError as exc:
            where = meta.get("source") or spec.source or "review"
            item.error = f"{where}: {item.title}: {exc}"
        items.append(item)
    if bar:
        bar(n, n, "")
    return ReviewResult(title or src.title, src.source, items, src.skipped)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def add_review_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bayesmeta review FILE --out DIR [--mcid-map MAP] [--force]``."""
    p = subparsers.add_parser(
        "review",
        help="re-analyse every analysis of a review; write SoF tables and reports",
        description=(
            "Re-analyse every analysis of a Cochrane review (RevMan 5 .rm5, its CSV export, "
            "or a RevMan Web data package), a folder of analysis files, or a review spec "
            "(TOML listing analysis files): the review's own fixed or random choice plus "
            "random effects, exact engines where they apply. Writes sof.csv, sof.md, "
            "sof.html, report.html and one folder per analysis to --out."
        ),
    )
    p.add_argument("file", help="review file, folder of analysis files, or review spec")
    p.add_argument("--out", required=True, help="output directory (must be new or empty)")
    p.add_argument(
        "--mcid-map",
        default=None,
        help="TOML file of [[mcid]] entries (match, measure, values or registry, direction, "
        "labels); default: the MCID registry by scale, or none",
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.add_argument(
        "--png-dpi",
        type=int,
        default=None,
        metavar="DPI",
        help="also write each forest plot as PNG at this resolution (e.g. 300); default: SVG only",
    )
    p.set_defaults(func=cmd_review)
    return p


def cmd_review(args: Any) -> int:
    """Run ``bayesmeta review``; return the exit code (0 ok, 1 data or output error)."""
    from bayesmeta.pipeline import OutputError, check_out_dir

    out = Path(args.out)
    try:
        check_out_dir(out, force=args.force)
        res = run_review(args.file, mcid_map=args.mcid_map, progress=None)
        res.write(out, force=args.force, progress=None, png_dpi=args.png_dpi)
    except (DataError, OutputError) as exc:
        print(f"bayesmeta: error: {exc}", file=sys.stderr)
        return 1
    print(res.text())
    failed = [it for it in res.items if it.primary is None]
    print(f"wrote {out} ({len(res.items) - len(failed)} analyses, {len(failed)} failed)")
    return 0

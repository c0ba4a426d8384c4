"""A network meta-analysis end to end: spec -> data -> fit -> MCID table -> report, files.

:func:`bayesmeta.run_analysis` calls :func:`run_network` for a spec that names a reference
treatment, so ``bayesmeta fit``, ``bayesmeta network``, the docs and the tests all go
through the same steps as a pairwise analysis.

Examples
--------
>>> from bayesmeta import AnalysisSpec, run_analysis
>>> spec = AnalysisSpec.from_kwargs(dataset="parkinsons_tsd2", measure="MD",
...                                 reference="placebo", model="fixed", mcid=[-0.5],
...                                 mcid_direction="less", lower_better=True)
>>> a = run_analysis(spec)
>>> a.mcid.round(3)[["treatment", "p"]].values.tolist()[:2]
[['drug2', 1.0], ['drug3', 0.482]]
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bayesmeta.network.result import NetworkResult
from bayesmeta.spec import AnalysisSpec

__all__ = ["NetworkAnalysis", "run_network"]


@dataclass(eq=False)
class NetworkAnalysis:
    """Everything one network meta-analysis produces.

    Attributes
    ----------
    spec : AnalysisSpec
    result : NetworkResult
    mcid : pandas.DataFrame or None
        :meth:`NetworkResult.prob_exceeds` for the spec's thresholds (every treatment
        against the reference).
    warnings : list of str
        Every warning raised while running, as text.
    provenance : dict
        Package versions, the data digest, the spec as used, the time.
    """

    spec: AnalysisSpec
    result: NetworkResult
    mcid: pd.DataFrame | None
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def diagnostics(self) -> Any:
        """MCMC diagnostics of the consistency fit (None for the exact engines)."""
        return self.result.fit.diagnostics

    def text(self) -> str:
        """Return the printed report (what ``bayesmeta network`` shows)."""
        from bayesmeta.network import report

        body = report.text(self.result, self.spec.mcid, self.spec.mcid_direction)
        return (f"== {self.spec.title} ==\n" if self.spec.title else "") + body.rstrip("\n")

    def to_json(self) -> dict[str, Any]:
        """Every table as plain JSON-serialisable data (``--format json``)."""
        r = self.result

        def records(df: pd.DataFrame | None, orient: str = "index") -> Any:
            if df is None:
                return None
            if isinstance(df.index, pd.MultiIndex):
                df = df.reset_index()
                orient = "records"
            return json.loads(df.to_json(orient=orient))

        scale = "natural" if r.is_ratio else "analysis"
        return {
            "title": self.spec.title,
            "model": r.describe(),
            "relative_effects": records(r.relative_effects(all_pairs=True, scale=scale)),
            "prediction": records(r.predict(all_pairs=True, scale=scale)),
            "heterogeneity": records(r.heterogeneity()),
            "sucra": records(r.sucra()),
            "ranks": records(r.ranks()),
            "mcid": records(self.mcid, "records"),
            "node_split": records(r.node_split()) if r.consistency == "nodesplit" else None,
            "notes": list(r.notes),
            "warnings": list(self.warnings),
            "diagnostics": None if self.diagnostics is None else self.diagnostics.to_dict(),
            "provenance": self.provenance,
        }

    def write(self, out_dir: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Write every table, the reports and the plots atomically to ``out_dir``.

        Files: ``relative_effects.csv``, ``prediction.csv`` (every pair, natural scale for
        ratios), ``league_table.csv``, ``ranks.csv``, ``sucra.csv``, ``heterogeneity.csv``,
        ``mcid.csv``, ``node_split.csv`` (when fitted), ``report.txt``, ``report.md``,
        ``report.html`` (self-contained), ``result.json``, ``result.nc`` (the whole result, for
        :func:`bayesmeta.network.load_network`), ``provenance.json``, ``diagnostics.json``
        (NUTS) and ``network.png``, ``forest.png``, ``ranks.png``.
        """
        os.environ.setdefault("MPLBACKEND", "Agg")
        import matplotlib.pyplot as plt

        from bayesmeta.html import network_html
        from bayesmeta.network import plots, report
        from bayesmeta.pipeline import _write_json, atomic_directory

        res, spec = self.result, self.spec
        out = Path(out_dir)
        with atomic_directory(out, force=force) as tmp:
            tables = {
                "relative_effects": res.relative_effects(all_pairs=True, scale="natural"),
                "prediction": res.predict(all_pairs=True, scale="natural"),
                "league_table": res.league_table(),
                "ranks": res.ranks(),
                "sucra": res.sucra(),
                "heterogeneity": res.heterogeneity(),
            }
            if res.consistency == "nodesplit":
                tables["node_split"] = res.node_split()
            for name, table in tables.items():
                table.to_csv(tmp / f"{name}.csv", float_format="%.10g")
            if self.mcid is not None:
                self.mcid.to_csv(tmp / "mcid.csv", index=False, float_format="%.10g")
            (tmp / "report.txt").write_text(self.text() + "\n", encoding="utf-8")
            figures = {  # file: (alt text, figure)
                "network.png": ("Network graph", plots.network_graph(res.data)),
                "forest.png": ("Relative effects against the reference", plots.forest(res)),
                "ranks.png": ("Cumulative rank probabilities", plots.rankogram(res, True)),
            }
            for name, (_, fig) in figures.items():
                fig.savefig(tmp / name, dpi=120)
                plt.close(fig)
            md = report.markdown(res, spec.mcid, spec.mcid_direction).rstrip("\n")
            if spec.title:  # the title heads the report; the model line becomes a section
                md = f"# {spec.title}\n\n#{md}"
            md += "\n\n## Figures\n\n" + "\n\n".join(
                f"![{alt}]({name})" for name, (alt, _) in figures.items()
            )
            (tmp / "report.md").write_text(md + "\n", encoding="utf-8")
            uris = [
                (alt, "data:image/png;base64," + base64.b64encode((tmp / n).read_bytes()).decode())
                for n, (alt, _) in figures.items()
            ]
            (tmp / "report.html").write_text(network_html(self, uris), encoding="utf-8")
            _write_json(tmp / "result.json", res.describe())
            res.save(tmp / "result.nc")
            prov = dict(self.provenance, warnings=self.warnings)
            _write_json(tmp / "provenance.json", prov)
            if self.diagnostics is not None:
                _write_json(tmp / "diagnostics.json", self.diagnostics.to_dict())
        return out


def run_network(spec: AnalysisSpec, data: Any = None) -> NetworkAnalysis:
    """Run a network meta-analysis spec end to end (see :func:`bayesmeta.run_analysis`)."""
    from bayesmeta.fit import _versions
    from bayesmeta.network.fit import fit_network_spec
    from bayesmeta.pipeline import _capture

    notes: list[str] = []
    nd = data if data is not None else _capture(spec.load_data, notes)
    res = _capture(lambda: fit_network_spec(spec, nd), notes)
    mcid = None
    if spec.mcid:
        mcid = res.prob_exceeds(
            list(spec.mcid), direction=spec.mcid_direction, scale=spec.mcid_scale
        )
    provenance: dict[str, Any] = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": dict(_versions(res.engine)),
        "data_sha256": data_sha256(nd),
        "data_source": nd.source,
        "seed": res.seed,
        "priors": {k: repr(v) for k, v in res.priors.items()},
        "spec": spec.to_dict(),
    }
    if spec.source is not None:
        provenance["spec_file"] = str(spec.source)
        provenance["spec_sha256"] = spec.sha256()
    return NetworkAnalysis(spec=spec, result=res, mcid=mcid, warnings=notes, provenance=provenance)


def data_sha256(nd: Any) -> str:
    """SHA-256 of the network's arm or contrast table as read (canonical CSV)."""
    return hashlib.sha256(nd.table.to_csv(index=False).encode()).hexdigest()

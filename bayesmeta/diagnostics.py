"""Convergence diagnostics for MCMC fits, built on ``arviz_stats.diagnose``.

Thresholds (Vehtari et al. 2021; Betancourt 2017): rank-normalised split R-hat <= 1.01,
bulk and tail ESS >= 100 per chain, no divergent transitions, E-BFMI >= 0.3 in every
chain, and no saturated tree depth. A fit that fails any of them gets a
:class:`ConvergenceWarning` naming the parameters.

References
----------
Vehtari A, Gelman A, Simpson D, Carpenter B, Bürkner P-C. Rank-normalization, folding,
and localization: an improved R-hat for assessing convergence of MCMC. Bayesian Analysis
2021;16(2):667-718. https://doi.org/10.1214/20-BA1221
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ConvergenceWarning", "Diagnostics", "RHAT_MAX", "BFMI_MIN", "ESS_PER_CHAIN"]

RHAT_MAX = 1.01
BFMI_MIN = 0.3
ESS_PER_CHAIN = 100


class ConvergenceWarning(UserWarning):
    """MCMC diagnostics failed a threshold: the posterior summaries may be wrong."""


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    engine : {"mcmc", "exact"}
        ``mcmc`` for sampled posteriors; ``exact`` for deterministic engines.
    ok : bool
        True when every check passed (always True for the exact engine: no MCMC).
    table : pandas.DataFrame
        Per parameter (rows ``mu``, ``tau``, ``theta_new``, ``theta[<study>]``):
        ``r_hat``, ``ess_bulk``, ``ess_tail`` and ``ok``.
    n_divergent, n_draws, n_max_treedepth : int
    bfmi : tuple of float
        E-BFMI per chain.
    problems : tuple of str
        One readable sentence per failed check.
    """

    engine: str
    ok: bool
    table: pd.DataFrame = field(repr=False)
    n_divergent: int = 0
    n_draws: int = 0
    n_max_treedepth: int = 0
    bfmi: tuple[float, ...] = ()
    problems: tuple[str, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def exact(cls) -> Diagnostics:
        """Diagnostics of the exact engine: nothing to check."""
        return cls(
            engine="exact",
            ok=True,
            table=pd.DataFrame(columns=["r_hat", "ess_bulk", "ess_tail", "ok"]),
        )

    @classmethod
    def from_datatree(cls, dt: Any, var_names: list[str]) -> Diagnostics:
        """Run the checks on an MCMC DataTree (posterior and sample_stats groups)."""
        import arviz_stats as azs

        post = dt["posterior"]
        n_chains = int(post.sizes["chain"])
        n_draws = int(post.sizes["chain"] * post.sizes["draw"])
        ess_min = ESS_PER_CHAIN * n_chains
        has_stats = "sample_stats" in dt.children and "diverging" in dt["sample_stats"]
        _, diag = azs.diagnose(
            dt,
            var_names=var_names,
            rhat_max=RHAT_MAX,
            ess_threshold=ess_min,
            bfmi_threshold=BFMI_MIN,
            show_diagnostics=False,
            return_diagnostics=True,
        )
        table = cls._param_table(dt, var_names)
        problems: list[str] = []
        n_div = int(diag.get("divergent", {}).get("n_divergent", 0)) if has_stats else 0
        n_tree = int(diag.get("treedepth", {}).get("n_max", 0)) if has_stats else 0
        bfmi = tuple(float(b) for b in np.atleast_1d(diag.get("bfmi", {}).get("bfmi_values", [])))
        bad_rhat = table.index[~(table["r_hat"] <= RHAT_MAX)].tolist()
        bad_ess = table.index[
            ~((table["ess_bulk"] >= ess_min) & (table["ess_tail"] >= ess_min))
        ].tolist()
        if bad_rhat:
            problems.append(f"R-hat > {RHAT_MAX} for {', '.join(bad_rhat)}")
        if bad_ess:
            problems.append(
                f"bulk or tail ESS < {ess_min} ({ESS_PER_CHAIN} per chain) for {', '.join(bad_ess)}"
            )
        if n_div:
            problems.append(f"{n_div} divergent transition(s) of {n_draws}")
        if n_tree:
            problems.append(f"{n_tree} transition(s) hit the maximum tree depth")
        low = [i for i, b in enumerate(bfmi) if b < BFMI_MIN]
        if low:
            problems.append(f"E-BFMI < {BFMI_MIN} in chain(s) {', '.join(map(str, low))}")
        table["ok"] = (
            (table["r_hat"] <= RHAT_MAX)
            & (table["ess_bulk"] >= ess_min)
            & (table["ess_tail"] >= ess_min)
        )
        return cls(
            engine="mcmc",
            ok=not problems,
            table=table,
            n_divergent=n_div,
            n_draws=n_draws,
            n_max_treedepth=n_tree,
            bfmi=bfmi,
            problems=tuple(problems),
            thresholds={"r_hat_max": RHAT_MAX, "ess_min": ess_min, "bfmi_min": BFMI_MIN},
        )

    @staticmethod
    def _param_table(dt: Any, var_names: list[str]) -> pd.DataFrame:
        """R-hat, bulk and tail ESS per parameter, from ``arviz_stats.summary``."""
        import arviz_stats as azs

        table = azs.summary(dt, var_names=var_names, kind="diagnostics", round_to="none")
        return table[["r_hat", "ess_bulk", "ess_tail"]].astype(float)

    @classmethod
    def from_dict(cls, d: dict[str, Any], table: dict[str, Any] | None = None) -> Diagnostics:
        """Inverse of :meth:`to_dict` (used when loading a saved result)."""
        params = d.get("parameters", {})
        frame = pd.DataFrame.from_dict(params, orient="index")
        if frame.empty:
            frame = pd.DataFrame(columns=["r_hat", "ess_bulk", "ess_tail", "ok"])
        # the JSON's keys are sorted: restore the column order of a fresh table
        first = [c for c in ("r_hat", "ess_bulk", "ess_tail", "ok") if c in frame.columns]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        return cls(
            engine=d["engine"],
            ok=bool(d["ok"]),
            table=frame,
            n_divergent=int(d.get("n_divergent", 0)),
            n_draws=int(d.get("n_draws", 0)),
            n_max_treedepth=int(d.get("n_max_treedepth", 0)),
            bfmi=tuple(d.get("bfmi", ())),
            problems=tuple(d.get("problems", ())),
            thresholds=dict(d.get("thresholds", {})),
        )

    def warn_if_failed(self, stacklevel: int = 2) -> None:
        """Emit a :class:`ConvergenceWarning` naming every failed check (none if all passed)."""
        if not self.ok:
            import warnings

            warnings.warn(
                "MCMC diagnostics failed: "
                + "; ".join(self.problems)
                + ". Do not trust these summaries; increase draws/tune or check the model.",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )

    def summary_line(self) -> str:
        """One line: the verdict and the thresholds checked."""
        if self.engine == "exact":
            return "exact computation (numerical integration): no MCMC diagnostics needed"
        if self.ok:
            worst = self.table["r_hat"].max() if len(self.table) else float("nan")
            ess = self.table[["ess_bulk", "ess_tail"]].min().min() if len(self.table) else 0
            return (
                f"OK: R-hat <= {RHAT_MAX} (max {worst:.3f}), ESS >= "
                f"{self.thresholds['ess_min']:.0f} (min {ess:.0f}), 0 divergences, "
                f"E-BFMI >= {BFMI_MIN}"
            )
        return "PROBLEMS: " + "; ".join(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "engine": self.engine,
            "ok": self.ok,
            "n_divergent": self.n_divergent,
            "n_draws": self.n_draws,
            "n_max_treedepth": self.n_max_treedepth,
            "bfmi": list(self.bfmi),
            "problems": list(self.problems),
            "thresholds": self.thresholds,
            "parameters": {
                k: {
                    c: (None if pd.isna(v) else (bool(v) if c == "ok" else float(v)))
                    for c, v in row.items()
                }
                for k, row in self.table.to_dict(orient="index").items()
            },
        }

"""``bayesmeta network``: fit a network meta-analysis from a CSV or a ``[network]`` file.

Wire into :mod:`bayesmeta.cli` with ``add_network_parser(subparsers)``; ``cmd_network(args)``
returns the exit code (0 ok, 1 data or spec error, 2 usage error). Messages go to stderr
without tracebacks; ``--out`` is checked before fitting and written atomically (a temporary
directory renamed into place).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_network_parser", "cmd_network"]

_HELP = """\
input shapes (one row per arm):
  binary arms       study, treatment, events, n
  continuous arms   study, treatment, mean, sd, n  |  study, treatment, mean, se
  contrasts         study, treatment, estimate, se  (baseline row: estimate empty, se = its
                    arm's SE, the covariance of the study's contrasts)
or a TOML analysis file with a [network] table (see docs/network.md).
"""


def _mcid(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")


def add_network_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``bayesmeta network DATA --reference TRT [options]``."""
    p = subparsers.add_parser(
        "network",
        help="network meta-analysis: every treatment against every other",
        description="Bayesian network meta-analysis (exact engine for the normal likelihood "
        "and for a pairwise binomial network, NUTS for other binomial networks): relative "
        "effects, prediction, league table, ranks, SUCRA, MCID probabilities and "
        "node-splitting.",
        epilog=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="CSV file (one row per arm) or TOML file with [network]")
    p.add_argument("--reference", default=None, help="reference treatment (required for a CSV)")
    p.add_argument(
        "--measure", default=None, help="OR | MD | SMD | RR | HR | GEN (default by shape)"
    )
    p.add_argument("--model", default=None, choices=["random", "fixed"], help="default random")
    p.add_argument(
        "--likelihood", default=None, choices=["normal", "binomial"], help="default normal"
    )
    p.add_argument("--engine", default=None, choices=["auto", "exact", "nuts"], help="default auto")
    p.add_argument(
        "--consistency",
        default=None,
        choices=["consistency", "ume", "nodesplit"],
        help="also fit UME or node-splitting models (default consistency only)",
    )
    p.add_argument(
        "--tau-prior", default=None, help="e.g. 'halfnormal(0.5)', 'turner2015(any; any)'"
    )
    p.add_argument("--d-prior", default=None, help="prior on each d (default normal(0, 100))")
    p.add_argument("--mcid", type=_mcid, default=None, help="thresholds, e.g. -0.5,-1")
    p.add_argument(
        "--direction",
        default=None,
        choices=["greater", "less"],
        help="benefit is an effect greater (default) or less than the MCID",
    )
    p.add_argument(
        "--lower-better", action="store_true", default=None, help="rank lower effects as better"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--draws", type=int, default=None, help="NUTS draws per chain (default 1000)")
    p.add_argument("--out", default=None, help="write report.md, report.txt, tables and plots here")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=cmd_network)
    return p


def _spec(args: Any) -> Any:
    from bayesmeta.network.spec import NetworkSpec, load_network_spec

    src = Path(args.source)
    flags = {
        "reference": args.reference,
        "measure": args.measure,
        "model": args.model,
        "likelihood": args.likelihood,
        "engine": args.engine,
        "consistency": args.consistency,
        "tau_prior": args.tau_prior,
        "d_prior": args.d_prior,
        "mcid": args.mcid,
        "mcid_direction": args.direction,
        "lower_better": args.lower_better,
        "seed": args.seed,
        "draws": args.draws,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    if src.suffix.lower() == ".toml":
        spec = load_network_spec(src)
        return spec.replace(**flags) if flags else spec
    return NetworkSpec.from_cli(data=str(src), **flags)


def cmd_network(args: Any) -> int:
    """Run ``bayesmeta network``; return the exit code."""
    from bayesmeta.errors import DataError
    from bayesmeta.network import report
    from bayesmeta.network.data import network_data
    from bayesmeta.network.fit import fit_network_spec
    from bayesmeta.pipeline import OutputError, check_out_dir

    if args.draws is not None and args.draws < 1:
        print("bayesmeta network: error: --draws must be >= 1", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else None
    try:
        if out is not None:
            check_out_dir(out, force=args.force)
        spec = _spec(args)
        if spec.dataset is not None:
            from bayesmeta import datasets

            data: Any = datasets.load(spec.dataset)
        elif spec.data is not None:
            data = spec.data
        else:
            raise DataError("no data: give a CSV file, or data/dataset in [network]")
        nd = network_data(data, spec.measure)
        res = fit_network_spec(spec, nd)
        body = report.text(res, spec.mcid, spec.mcid_direction)
        if out is not None:
            _write(out, res, spec, args.force)
    except (DataError, OutputError) as exc:
        print(f"bayesmeta network: error: {exc}", file=sys.stderr)
        return 1
    print(body, end="")
    if out is not None:
        print(f"wrote {out}")
    return 0


def _write(out: Path, res: Any, spec: Any, force: bool) -> None:
    """Write every table, the reports and the plots to a temporary directory, then rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesmeta.network import plots, report
    from bayesmeta.pipeline import atomic_directory

    with atomic_directory(out, force=force) as tmp:
        res.relative_effects(all_pairs=True, scale="natural").to_csv(tmp / "relative_effects.csv")
        res.predict(all_pairs=True, scale="natural").to_csv(tmp / "prediction.csv")
        res.league_table().to_csv(tmp / "league_table.csv")
        res.ranks().to_csv(tmp / "ranks.csv")
        res.sucra().to_csv(tmp / "sucra.csv")
        res.heterogeneity().to_csv(tmp / "heterogeneity.csv")
        if spec.mcid:
            res.prob_exceeds(list(spec.mcid), direction=spec.mcid_direction).to_csv(
                tmp / "mcid.csv", index=False
            )
        if res.consistency == "nodesplit":
            res.node_split().to_csv(tmp / "node_split.csv")
        (tmp / "report.txt").write_text(report.text(res, spec.mcid, spec.mcid_direction))
        (tmp / "report.md").write_text(report.markdown(res, spec.mcid, spec.mcid_direction))
        (tmp / "result.json").write_text(
            json.dumps(res.describe(), indent=2, sort_keys=True, default=str) + "\n"
        )
        for name, fig in (
            ("network.png", plots.network_graph(res.data)),
            ("forest.png", plots.forest(res)),
            ("ranks.png", plots.rankogram(res, cumulative=True)),
        ):
            fig.savefig(tmp / name, dpi=120)
            plt.close(fig)

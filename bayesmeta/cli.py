"""The ``bayesmeta`` command: parse, build the spec, call :func:`bayesmeta.run_analysis`, print.

Exit codes: 0 success, 1 data or spec error, 2 usage error, 3 failed MCMC diagnostics
under ``--strict``, 130 interrupted (Ctrl-C). Errors and warnings go to stderr, one line
each (``bayesmeta: error: ...``, ``bayesmeta: warning: ...``); no traceback reaches the
user. ``--out DIR`` is checked before fitting and written to a temporary directory that
is renamed at the end, so a failed or interrupted run leaves nothing behind. Heavy modules
load only inside the commands that need them (``--help`` imports neither pandas nor scipy).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_CONVERGENCE, EXIT_INTERRUPT = 0, 1, 2, 3, 130


class _Usage(Exception):
    """A usage error found after argument parsing."""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults and keep the epilog's layout.

    Options that override an analysis file default to None (not given); their help says
    what the default is, so none is appended then, nor where the help already names one.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def _spec_type(name: str) -> Any:
    """Return an argparse type that applies the spec's own check for option ``name``."""

    def convert(text: str) -> Any:
        from bayesmeta.spec import _BY_NAME

        f = _BY_NAME[name]
        number = float if name in ("ci_prob", "control_risk") else int
        try:
            value: Any = number(text)
        except ValueError:
            kind = "a number" if number is float else "an integer"
            raise argparse.ArgumentTypeError(f"must be {kind} (got {text!r})") from None
        checked, err = f.check(value)
        if err:
            raise argparse.ArgumentTypeError(err)
        return checked

    return convert


def _mcid_type(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated numbers, e.g. 0.2,0.5 or -4,-5 (got {text!r})"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("needs at least one number")
    return values


def _columns_type(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        old, eq, new = part.partition("=")
        if not eq or not old.strip() or not new.strip():
            raise argparse.ArgumentTypeError(
                f"must be old=new pairs separated by commas, e.g. trial=study (got {part!r})"
            )
        out[old.strip()] = new.strip()
    return out


def _add_model_options(p: argparse.ArgumentParser, *, network: bool = False) -> None:
    g = p.add_argument_group("model (override the analysis file)")
    if network:
        g.add_argument("--reference", help="reference treatment (required for a CSV), e.g. placebo")
        g.add_argument(
            "--measure",
            help="OR (binary arms), MD or SMD (continuous arms), or the scale of given "
            "contrasts: MD, SMD, OR, RR, HR, GEN (default by the table's shape)",
        )
    else:
        g.add_argument("--measure", help="effect measure for a CSV: MD, SMD, OR, RR, RD, HR, GEN")
    g.add_argument(
        "--columns", type=_columns_type, help="rename CSV columns, e.g. trial=study,yr=year"
    )
    g.add_argument(
        "--model",
        choices=["random", "fixed"],
        help="random effects, or a fixed (common) effect with tau = 0 (default: random)",
    )
    g.add_argument(
        "--likelihood",
        choices=["normal", "binomial"],
        help="normal on effect sizes (contrasts), or binomial on arm-level events "
        "(default: normal)",
    )
    g.add_argument(
        "--engine",
        choices=["auto", "exact", "nuts"],
        help="exact integration, NUTS, or the best that applies (default: auto)",
    )
    if network:
        g.add_argument(
            "--consistency",
            choices=["consistency", "ume", "nodesplit"],
            help="also fit unrelated mean effects or node-splitting models (default: "
            "consistency only)",
        )
        g.add_argument(
            "--lower-better",
            action="store_true",
            default=None,
            help="rank lower effects as better (ranks, SUCRA, P(best))",
        )
        g.add_argument(
            "--d-prior", help='prior on each d against the reference (default "normal(0, 100)")'
        )
    else:
        g.add_argument(
            "--moderators",
            help="meta-regression on covariate columns: a formula such as "
            "'~ ablat + C(alloc)' (formulaic syntax)",
        )
        g.add_argument("--subgroup", help="subgroup analysis by this covariate column (common tau)")
        g.add_argument(
            "--mu-prior",
            help='prior on mu, e.g. "normal(0, 4)" or "flat" (default: '
            "Normal(0, 4) for ratios and SMD, flat otherwise)",
        )
    g.add_argument(
        "--tau-prior",
        help='prior on tau, e.g. "halfnormal(0.5)" or '
        '"turner2015(any; any)" (default: HalfNormal(0.5) for ratios and SMD)',
    )
    g.add_argument(
        "--baseline-prior",
        help='prior on the baseline log odds (binomial likelihood), e.g. "normal(0, 10)"',
    )
    if not network:
        g.add_argument(
            "--control-risk",
            type=_spec_type("control_risk"),
            help="control risk for implied RR/RD (default: pooled observed)",
        )
    g.add_argument(
        "--ci-prob",
        type=_spec_type("ci_prob"),
        help="credible-interval probability (default: 0.95)",
    )
    m = p.add_argument_group("MCID")
    m.add_argument(
        "--mcid",
        type=_mcid_type,
        help="candidate MCIDs, comma-separated, natural "
        "scale (ratios for OR/RR/HR); negative values allowed: --mcid -4,-5",
    )
    m.add_argument(
        "--direction",
        choices=["greater", "less"],
        help="benefit is an effect greater or less than the MCID (default: greater)",
    )
    s = p.add_argument_group("sampling (NUTS; the exact engine draws this many too)")
    s.add_argument(
        "--seed", type=_spec_type("seed"), help="random seed (default: drawn, then recorded)"
    )
    s.add_argument("--draws", type=_spec_type("draws"), help="draws per chain (default: 2000)")
    s.add_argument("--tune", type=_spec_type("tune"), help="tuning steps (default: 1000)")
    s.add_argument("--chains", type=_spec_type("chains"), help="chains (default: 4)")
    o = p.add_argument_group("output")
    o.add_argument("--out", help=_OUT_HELP["network" if network else "fit"])
    o.add_argument("--force", action="store_true", help="replace an existing --out directory")
    o.add_argument(
        "--format", choices=["table", "json"], default="table", help="what to print on stdout"
    )
    o.add_argument(
        "--strict", action="store_true", help="exit with status 3 when MCMC diagnostics fail"
    )


_OUT_HELP = {
    "fit": "write summary.csv, studies.csv, mcid.csv, classical.csv, posterior.nc, "
    "diagnostics.json, provenance.json, plots and report.md to this directory",
    "network": "write relative_effects.csv, prediction.csv, league_table.csv, ranks.csv, "
    "sucra.csv, mcid.csv, node_split.csv, report.md, report.html, result.nc, "
    "provenance.json and plots here",
}

_NETWORK_SHAPES = """\
input shapes (one row per arm):
  binary arms       study, treatment, events, n
  continuous arms   study, treatment, mean, sd, n  |  study, treatment, mean, se
  contrasts         study, treatment, estimate, se  (baseline row: estimate empty, se = its
                    arm's SE, the covariance of the study's contrasts)
or an analysis file (TOML) with a [network] table (see docs/network.md).
"""


def _parser() -> argparse.ArgumentParser:
    from bayesmeta import __version__
    from bayesmeta.shapes import describe

    p = argparse.ArgumentParser(
        prog="bayesmeta",
        description="Bayesian meta-analysis: posterior effects, heterogeneity, prediction and "
        "MCID probabilities.",
        epilog="Exit codes: 0 ok, 1 data or analysis-file error, 2 usage error, 3 failed MCMC "
        "diagnostics (--strict), 130 interrupted.",
    )
    p.add_argument("--version", action="version", version=f"bayesmeta {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser(
        "fit",
        help="fit an analysis file (TOML) or a CSV of trial data",
        description="Fit an analysis file (models/*.toml; see docs/analysis-files.md) or a "
        "CSV of trial data. Options override the file.",
        epilog=describe(),
        formatter_class=_Formatter,
    )
    f.add_argument("source", help="analysis file (.toml) or CSV of trial data")
    _add_model_options(f)

    n = sub.add_parser(
        "network",
        help="network meta-analysis: every treatment against every other",
        description="Bayesian network meta-analysis (exact engine for the normal likelihood "
        "and for a pairwise binomial network, NUTS for other binomial networks): relative "
        "effects, prediction, league table, ranks, SUCRA, MCID probabilities and "
        "node-splitting. Options override the file.",
        epilog=_NETWORK_SHAPES,
        formatter_class=_Formatter,
    )
    n.add_argument("source", help="CSV (one row per arm) or analysis file (.toml) with [network]")
    _add_model_options(n, network=True)

    e = sub.add_parser(
        "effects",
        help="per-study effect sizes (as metafor's escalc)",
        description="Per-study effect sizes yi, vi, sei (as R metafor's escalc).",
        epilog=describe(),
        formatter_class=_Formatter,
    )
    e.add_argument("source", help="CSV of trial data")
    e.add_argument("--measure", required=True, help="MD, SMD, OR, RR, RD, HR or GEN")
    e.add_argument("--columns", type=_columns_type, help="rename columns, e.g. trial=study")
    e.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="output format"
    )

    pr = sub.add_parser("priors", help="list or show priors", formatter_class=_Formatter)
    prs = pr.add_subparsers(dest="action", metavar="ACTION")
    prs.add_parser("list", help="prior families and empirical priors")
    show = prs.add_parser("show", help="details of a prior or an empirical prior's categories")
    show.add_argument("name", help='e.g. turner2015, rhodes2015, "halfnormal(0.5)"')

    v = sub.add_parser(
        "validate",
        help="check an analysis file or a CSV without fitting",
        epilog=describe(),
        formatter_class=_Formatter,
    )
    v.add_argument("source", help="analysis file (.toml) or CSV")
    v.add_argument("--measure", help="measure for a CSV")
    v.add_argument("--columns", type=_columns_type, help="rename columns, e.g. trial=study")

    d = sub.add_parser("datasets", help="bundled myositis datasets", formatter_class=_Formatter)
    ds = d.add_subparsers(dest="action", metavar="ACTION")
    ds.add_parser("list", help="list the datasets")
    dshow = ds.add_parser("show", help="a dataset with its provenance")
    dshow.add_argument("name")

    from bayesmeta.review import add_review_parser

    add_review_parser(sub)

    m = sub.add_parser("mcid", help="registry of candidate MCIDs", formatter_class=_Formatter)
    ms = m.add_subparsers(dest="action", metavar="ACTION")
    ms.add_parser("list", help="list the registry")
    return p


#: Flags whose value may start with "-" (negative MCIDs) or "~" (formulas).
_VALUE_FLAGS = (
    "--mcid",
    "--mu-prior",
    "--d-prior",
    "--tau-prior",
    "--baseline-prior",
    "--moderators",
)


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--mcid -4,-5`` -> ``--mcid=-4,-5`` (argparse would read -4,-5 as an option)."""
    out: list[str] = []
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        if a in _VALUE_FLAGS and i + 1 < len(argv):
            out.append(f"{a}={argv[i + 1]}")
            next(it, None)
        else:
            out.append(a)
    return out


def _showwarning(
    message: Any, category: Any, filename: str, lineno: int, *a: Any, **k: Any
) -> None:
    text = " ".join(str(message).split())
    print(f"bayesmeta: warning: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args_list)
    except KeyboardInterrupt:
        print("bayesmeta: interrupted", file=sys.stderr)
        return EXIT_INTERRUPT
    except BrokenPipeError:
        # the reader went away (e.g. `| head -1`): stop quietly
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except Exception as exc:  # a bug: still one line on stderr, never a traceback
        if os.environ.get("BAYESMETA_DEBUG"):  # (the test suite sets it: bugs must surface)
            raise
        print(
            f"bayesmeta: internal error: {type(exc).__name__}: {exc} (please report it, with "
            "the command and the data)",
            file=sys.stderr,
        )
        return EXIT_DATA


def _main(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(_join_negative_values(argv))
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = argv
    old_show = warnings.showwarning
    warnings.showwarning = _showwarning
    try:
        with warnings.catch_warnings():
            # the command's own warnings are output (one line each), never errors, whatever
            # the interpreter's filters (PYTHONWARNINGS=error, pytest's filterwarnings)
            warnings.simplefilter("default", UserWarning)
            return _dispatch(args)
    finally:
        warnings.showwarning = old_show


def _dispatch(args: argparse.Namespace) -> int:
    from bayesmeta.errors import DataError
    from bayesmeta.pipeline import OutputError
    from bayesmeta.review import cmd_review
    from bayesmeta.spec import SpecError

    commands = {
        "review": cmd_review,
        "fit": _cmd_fit,
        "network": _cmd_fit,
        "effects": _cmd_effects,
        "priors": _cmd_priors,
        "validate": _cmd_validate,
        "datasets": _cmd_datasets,
        "mcid": _cmd_mcid,
    }
    try:
        return commands[args.command](args)
    except BrokenPipeError:
        raise  # quiet: handled in main(), not an OSError to report
    except (_Usage, OutputError) as exc:
        print(f"bayesmeta: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as exc:
        print(f"bayesmeta: error: {_one_line(exc)}", file=sys.stderr)
        flags = {k for k, _ in exc.problems} & set(getattr(args, "overridden", ()))
        return EXIT_USAGE if flags else EXIT_DATA
    except (DataError, ValueError, KeyError, OSError, ArithmeticError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"bayesmeta: error: {_one_line(msg)}", file=sys.stderr)
        return EXIT_DATA


def _one_line(exc: Any) -> str:
    lines = str(exc).splitlines()
    return lines[0] if len(lines) == 1 else "\n  " + "\n  ".join(lines)


# -- fit -------------------------------------------------------------------------------------
def _is_spec(source: str) -> bool:
    return source.lower().endswith(".toml")


_FLAG_FIELDS = {
    "measure": "measure",
    "columns": "columns",
    "model": "effects",
    "likelihood": "likelihood",
    "engine": "engine",
    "moderators": "moderators",
    "subgroup": "subgroup",
    "mu_prior": "mu_prior",
    "reference": "reference",
    "consistency": "consistency",
    "lower_better": "lower_better",
    "d_prior": "d_prior",
    "tau_prior": "tau_prior",
    "baseline_prior": "baseline_prior",
    "control_risk": "control_risk",
    "ci_prob": "ci_prob",
    "mcid": "mcid",
    "direction": "mcid_direction",
    "seed": "seed",
    "draws": "draws",
    "tune": "tune",
    "chains": "chains",
}


def _build_spec(args: argparse.Namespace) -> Any:
    """Build the analysis spec from the source (file or CSV) and the flags."""
    from bayesmeta.errors import DataError
    from bayesmeta.spec import AnalysisSpec

    overrides = {
        field: getattr(args, flag)
        for flag, field in _FLAG_FIELDS.items()
        if getattr(args, flag, None) is not None
    }
    if getattr(args, "mcid", None) is not None:
        overrides["mcid_labels"] = None  # the file's labels belong to the file's values
    args.overridden = set(overrides)
    src = Path(args.source)
    if src.is_dir():
        raise DataError(f"{src} is a directory; give an analysis file (.toml) or a CSV file")
    network = args.command == "network"
    if _is_spec(args.source):
        spec = AnalysisSpec.from_toml(src)
        if (
            "measure" in overrides
            and spec.measure is not None
            and overrides["measure"].upper() != spec.measure
        ):
            raise _Usage(
                f"--measure {overrides['measure']} contradicts data.measure = "
                f"{spec.measure!r} in {args.source}"
            )
        if network and not spec.is_network:
            raise _Usage(f"{src} has no [network] table: fit it with `bayesmeta fit`")
        return spec.replace(origin="cli", **overrides)
    if network and "reference" not in overrides:
        raise _Usage("--reference is required for a CSV (e.g. --reference placebo)")
    if not network and "measure" not in overrides:
        raise _Usage("--measure is required for a CSV (e.g. --measure SMD)")
    if not src.exists():
        raise DataError(f"{src}: no such file")
    return AnalysisSpec.from_kwargs(path=src, title="").replace(origin="cli", **overrides)


def _cmd_fit(args: argparse.Namespace) -> int:
    from bayesmeta.pipeline import check_out_dir, run_analysis

    spec = _build_spec(args)
    if not args.out and spec.progressbar is False and sys.stderr.isatty():
        spec = spec.replace(progressbar=True)
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        check_out_dir(out_dir, force=args.force)
    analysis = run_analysis(spec)
    analysis.provenance["command"] = " ".join(["bayesmeta", *args.argv])
    if args.format == "json":
        text = json.dumps(analysis.to_json(), indent=2, sort_keys=True, default=_jsonable)
    else:
        text = analysis.text()
    if out_dir is not None:
        analysis.write(out_dir, force=args.force)
    print(text)
    if out_dir is not None:
        print(f"Wrote {out_dir}/", file=sys.stderr)
    diag = analysis.diagnostics
    if args.strict and diag is not None and not diag.ok:
        print(
            "bayesmeta: error: MCMC diagnostics failed (--strict): " + "; ".join(diag.problems),
            file=sys.stderr,
        )
        return EXIT_CONVERGENCE
    return EXIT_OK


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


# -- other commands --------------------------------------------------------------------------
def _read(args: argparse.Namespace) -> Any:
    from bayesmeta.data import read_csv
    from bayesmeta.errors import DataError

    src = Path(args.source)
    if src.is_dir():
        raise DataError(f"{src} is a directory; give a CSV file")
    return read_csv(src, args.measure, columns=args.columns)


def _cmd_effects(args: argparse.Namespace) -> int:
    eff = _read(args).effects
    if args.format == "json":
        print(eff.to_json(orient="records", indent=2))
    elif args.format == "csv":
        print(eff.to_csv(index=False, float_format="%.10g"), end="")
    else:
        print(eff.to_string(index=False, float_format=lambda x: f"{x:.6f}"))
    return EXIT_OK


def _cmd_priors(args: argparse.Namespace) -> int:
    from bayesmeta import priors as P

    if args.action in (None, "list"):
        print("Prior families (PyMC names; parameters):")
        for cls in P.DISTRIBUTIONS.values():
            print(f"  {cls.__name__}({', '.join(cls.param_names())})")
        print("Empirical heterogeneity priors (on tau; see `bayesmeta priors show NAME`):")
        print(
            "  turner2015(outcome; comparison)   log OR, Turner et al. 2015 (log-normal on tau^2)"
        )
        print(
            "  rhodes2015(outcome; comparison[; area])  SMD, Rhodes et al. 2015 (log-t5 on tau^2)"
        )
        return EXIT_OK
    name = args.name.strip()
    if name.lower() in P.EMPIRICAL:
        cats = P.categories(name.lower())
        print(f"{name.lower()}: {P.EMPIRICAL[name.lower()].__doc__.strip().splitlines()[0]}")
        for key, values in cats.items():
            print(f"{key}s:")
            for v in values:
                print(f"  {v}")
        print(f"marginal setting: {P.EMPIRICAL[name.lower()]('any', 'any')!r}")
        return EXIT_OK
    prior = P.parse(name)
    print(repr(prior))
    if prior.data_dependent:
        print("  data-dependent: computed from the studies' standard errors at fit time")
    elif prior.proper and not isinstance(prior, P.Flat):
        q = prior.ppf([0.025, 0.5, 0.975])
        print(f"  2.5%, 50%, 97.5% quantiles: {q[0]:.4g}, {q[1]:.4g}, {q[2]:.4g}")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from bayesmeta.spec import AnalysisSpec

    if _is_spec(args.source):
        spec = AnalysisSpec.from_toml(args.source)
        sd = spec.load_data()
        if spec.is_network:
            from bayesmeta.network.model import treatment_order

            treatment_order(sd, spec.reference)  # the reference is one of the treatments
            k = len(sd.studies)
            print(
                f"{args.source}: OK ({spec.title}; network of {k} stud{'y' if k == 1 else 'ies'}, "
                f"{len(sd.treatments)} treatments, measure {sd.measure}; reference "
                f"{spec.reference})"
            )
        else:
            print(f"{args.source}: OK ({spec.title}; k = {sd.k}, measure {sd.measure})")
    else:
        if not args.measure:
            raise _Usage("--measure is required to validate a CSV")
        sd = _read(args)
        extra = ""
        cov = getattr(sd, "covariates", None)
        if cov is not None and len(cov.columns):
            extra = f"; covariates: {', '.join(map(str, cov.columns))}"
        print(f"{args.source}: OK (k = {sd.k}, {sd.kind} data, measure {sd.measure}{extra})")
    return EXIT_OK


def _cmd_datasets(args: argparse.Namespace) -> int:
    from bayesmeta import datasets

    if args.action in (None, "list"):
        print(datasets.list().to_string(index=False))
        return EXIT_OK
    info = datasets.info(args.name)
    print(info["provenance"])
    print(datasets.load(args.name).to_string(index=False))
    return EXIT_OK


def _cmd_mcid(args: argparse.Namespace) -> int:
    from bayesmeta import mcid

    print(mcid.table().to_string(index=False))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

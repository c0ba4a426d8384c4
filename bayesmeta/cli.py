"""The ``bayesmeta`` command.

Exit codes: 0 success, 1 data or spec error, 2 usage error, 3 convergence failure under
``--strict``. Errors go to stderr as ``bayesmeta: error: ...``. ``--out DIR`` is written
to a temporary directory and renamed, so a failed run leaves nothing behind. Heavy
modules load only inside the commands that need them (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

__all__ = ["main"]

EXIT_OK, EXIT_DATA, EXIT_USAGE, EXIT_CONVERGENCE = 0, 1, 2, 3


class _Usage(Exception):
    """A usage error found after argument parsing."""


def _parser() -> argparse.ArgumentParser:
    from bayesmeta import __version__

    p = argparse.ArgumentParser(
        prog="bayesmeta",
        description="Bayesian meta-analysis: posterior effects, heterogeneity, prediction and "
        "MCID probabilities.",
    )
    p.add_argument("--version", action="version", version=f"bayesmeta {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    f = sub.add_parser("fit", help="fit an analysis file (TOML) or a CSV of trial data")
    f.add_argument("source", help="analysis file (.toml) or CSV of trial data")
    f.add_argument("--measure", help="effect measure for a CSV: MD, SMD, OR, RR, RD, HR, GEN")
    f.add_argument("--model", choices=["random", "fixed"])
    f.add_argument("--likelihood", choices=["normal", "binomial"])
    f.add_argument("--engine", choices=["auto", "exact", "nuts"])
    f.add_argument("--mu-prior", help='e.g. "normal(0, 4)" or "flat"')
    f.add_argument("--tau-prior", help='e.g. "halfnormal(0.5)" or "turner2015(any; any)"')
    f.add_argument(
        "--mcid", help="candidate MCIDs, comma-separated, natural scale (ratios for OR/RR/HR)"
    )
    f.add_argument("--direction", choices=["greater", "less"])
    f.add_argument("--seed", type=int)
    f.add_argument("--draws", type=int)
    f.add_argument("--tune", type=int)
    f.add_argument("--chains", type=int)
    f.add_argument(
        "--out",
        help="write summary.csv, mcid.csv, posterior.nc, diagnostics.json, "
        "provenance.json, plots and report.md to this directory",
    )
    f.add_argument("--force", action="store_true", help="replace an existing --out directory")
    f.add_argument("--format", choices=["table", "json"], default="table")
    f.add_argument(
        "--strict", action="store_true", help="exit with status 3 when MCMC diagnostics fail"
    )

    e = sub.add_parser("effects", help="per-study effect sizes (as metafor's escalc)")
    e.add_argument("source", help="CSV of trial data")
    e.add_argument("--measure", required=True)
    e.add_argument("--format", choices=["table", "json", "csv"], default="table")

    pr = sub.add_parser("priors", help="list or show priors")
    prs = pr.add_subparsers(dest="action", metavar="ACTION")
    prs.add_parser("list", help="prior families and empirical priors")
    show = prs.add_parser("show", help="details of a prior or an empirical prior's categories")
    show.add_argument("name", help='e.g. turner2015, rhodes2015, "halfnormal(0.5)"')

    v = sub.add_parser("validate", help="check an analysis file or a CSV without fitting")
    v.add_argument("source")
    v.add_argument("--measure", help="measure for a CSV")

    d = sub.add_parser("datasets", help="bundled myositis datasets")
    ds = d.add_subparsers(dest="action", metavar="ACTION")
    ds.add_parser("list")
    dshow = ds.add_parser("show")
    dshow.add_argument("name")

    m = sub.add_parser("mcid", help="registry of candidate MCIDs")
    ms = m.add_subparsers(dest="action", metavar="ACTION")
    ms.add_parser("list")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage errors
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from bayesmeta.data import DataError
    from bayesmeta.priors import PriorError

    try:
        return {
            "fit": _cmd_fit,
            "effects": _cmd_effects,
            "priors": _cmd_priors,
            "validate": _cmd_validate,
            "datasets": _cmd_datasets,
            "mcid": _cmd_mcid,
        }[args.command](args)
    except _Usage as exc:
        print(f"bayesmeta: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DataError, PriorError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) else str(exc)
        print(f"bayesmeta: error: {msg}", file=sys.stderr)
        return EXIT_DATA


# -- fit -------------------------------------------------------------------------------------
def _is_spec(source: str) -> bool:
    return source.lower().endswith(".toml")


def _build(args: argparse.Namespace) -> tuple[Any, dict[str, Any], Any]:
    """Return (StudyData, fit kwargs, Spec or None) from a spec or a CSV plus options."""
    from bayesmeta.data import read_csv
    from bayesmeta.spec import load_spec

    overrides: dict[str, Any] = {}
    for opt, key in (
        ("model", "model"),
        ("likelihood", "likelihood"),
        ("engine", "engine"),
        ("mu_prior", "mu_prior"),
        ("tau_prior", "tau_prior"),
        ("seed", "seed"),
        ("draws", "draws"),
        ("tune", "tune"),
        ("chains", "chains"),
    ):
        value = getattr(args, opt, None)
        if value is not None:
            overrides[key] = value
    if _is_spec(args.source):
        spec = load_spec(args.source)
        if args.measure and args.measure.upper() != spec.measure.upper():
            raise _Usage(
                f"--measure {args.measure} contradicts data.measure = "
                f"{spec.measure!r} in {args.source}"
            )
        sd = spec.load_data()
        kw = spec.fit_kwargs()
        kw.update(overrides)
        if kw.get("model") == "fixed":
            kw.pop("tau_prior", None)
        return sd, kw, spec
    if not args.measure:
        raise _Usage("--measure is required when fitting a CSV (e.g. --measure SMD)")
    return read_csv(args.source, args.measure), overrides, None


def _parse_mcid(text: str | None) -> list[float]:
    if not text:
        return []
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise _Usage(f"--mcid must be comma-separated numbers, got {text!r}") from None


def _cmd_fit(args: argparse.Namespace) -> int:
    import bayesmeta
    from bayesmeta.diagnostics import ConvergenceWarning

    sd, kw, spec = _build(args)
    thresholds = _parse_mcid(args.mcid) or (spec.mcid if spec else [])
    labels = spec.mcid_labels if (spec and not args.mcid) else None
    direction = args.direction or (spec.direction if spec else "greater")
    scale = spec.scale if spec else "natural"
    out_dir = Path(args.out) if args.out else None
    if out_dir and out_dir.exists() and any(out_dir.iterdir()) and not args.force:
        raise _Usage(f"--out {out_dir} exists and is not empty (use --force to replace it)")
    kw.setdefault("progressbar", sys.stdout.isatty())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = bayesmeta.fit(sd, **kw)
    for w in caught:
        print(f"bayesmeta: warning: {w.message}", file=sys.stderr)
    result.provenance["command"] = " ".join(["bayesmeta", *args.argv])
    if spec is not None:
        result.provenance["spec"] = str(spec.path)
        result.provenance["spec_sha256"] = hashlib.sha256(spec.path.read_bytes()).hexdigest()
    mcid = result.prob_exceeds(thresholds, direction=direction, scale=scale) if thresholds else None
    if mcid is not None and labels:
        mcid.insert(1, "label", labels)
    classical = _classical(result)
    sens = None
    if spec is not None and spec.sensitivity:
        from bayesmeta.sensitivity import prior_sensitivity

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            sens = prior_sensitivity(result, spec.sensitivity, thresholds, direction, scale)
        for w in caught:
            print(f"bayesmeta: warning (sensitivity fit): {w.message}", file=sys.stderr)
    if args.format == "json":
        payload = _json_payload(result, mcid, classical)
        payload["sensitivity"] = None if sens is None else json.loads(sens.to_json(orient="index"))
        print(json.dumps(payload, indent=2, sort_keys=True, default=_jsonable))
    else:
        print(_text_report(result, mcid, classical, spec, sens))
    if out_dir:
        _write_outputs(
            out_dir,
            result,
            mcid,
            classical,
            spec,
            thresholds,
            labels,
            direction,
            force=args.force,
            sensitivity=sens,
        )
        print(f"\nWrote {out_dir}/", file=sys.stderr)
    if args.strict and not result.diagnostics.ok:
        print(
            "bayesmeta: error: MCMC diagnostics failed (--strict): "
            + "; ".join(result.diagnostics.problems),
            file=sys.stderr,
        )
        return EXIT_CONVERGENCE
    return EXIT_OK


def _classical(result: Any) -> Any:
    from bayesmeta.classical import classical_table

    try:
        return classical_table(result.data)
    except ValueError:
        return None


def _text_report(result: Any, mcid: Any, classical: Any, spec: Any, sens: Any = None) -> str:
    from bayesmeta.report import mcid_text, plain_language

    parts = []
    if spec is not None:
        parts.append(f"== {spec.title} ==")
    parts.append(str(result))
    if classical is not None:
        parts.append("\nClassical estimates (as a review would report them):")
        parts.append(classical.to_string(float_format=lambda x: f"{x:.3f}"))
    if mcid is not None:
        parts.append("\n" + mcid_text(result, mcid))
        for sentence in plain_language(result, mcid, spec):
            parts.append("  " + sentence)
    if sens is not None:
        parts.append("\nPrior sensitivity (median and 95% CrI of mu; 95% prediction interval):")
        parts.append(sens.to_string(float_format=lambda x: f"{x:.3f}"))
    return "\n".join(parts)


def _json_payload(result: Any, mcid: Any, classical: Any) -> dict[str, Any]:
    s = result.summary(scale="natural" if result.is_ratio else "analysis")
    return {
        "model": result.describe_model(),
        "measure": result.measure,
        "k": result.k,
        "priors": {
            "mu": repr(result.mu_prior),
            "tau": None if result.tau_prior is None else repr(result.tau_prior),
        },
        "ci": "95% equal-tailed",
        "scale": "natural" if result.is_ratio else "analysis",
        "summary": json.loads(s.to_json(orient="index")),
        "mcid": None if mcid is None else json.loads(mcid.to_json(orient="records")),
        "classical": None if classical is None else json.loads(classical.to_json(orient="index")),
        "diagnostics": result.diagnostics.to_dict(),
        "provenance": result.provenance,
    }


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _write_outputs(
    out_dir: Path,
    result: Any,
    mcid: Any,
    classical: Any,
    spec: Any,
    thresholds: list[float],
    labels: list[str] | None,
    direction: str,
    *,
    force: bool,
    sensitivity: Any = None,
) -> None:
    os.environ.setdefault("MPLBACKEND", "Agg")
    from bayesmeta import plots
    from bayesmeta.report import markdown_report

    parent = out_dir.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        s = result.summary(scale="natural" if result.is_ratio else "analysis")
        s.to_csv(tmp / "summary.csv", float_format="%.10g")
        if mcid is not None:
            mcid.to_csv(tmp / "mcid.csv", index=False, float_format="%.10g")
        else:
            (tmp / "mcid.csv").write_text("threshold,p_mu,p_new,mcse,mcse_new\n")
        result.save(tmp / "posterior.nc")
        (tmp / "diagnostics.json").write_text(
            json.dumps(result.diagnostics.to_dict(), indent=2, sort_keys=True, default=_jsonable)
            + "\n"
        )
        prov = dict(result.provenance)
        prov.update(
            {
                "priors": {
                    "mu": result.mu_prior.to_dict(),
                    "tau": None if result.tau_prior is None else result.tau_prior.to_dict(),
                },
                "settings": result.settings,
                "model": result.model,
                "likelihood": result.likelihood,
                "engine": result.engine,
                "measure": result.measure,
            }
        )
        (tmp / "provenance.json").write_text(
            json.dumps(prov, indent=2, sort_keys=True, default=_jsonable) + "\n"
        )
        import matplotlib.pyplot as plt

        nat = thresholds if (spec is None or spec.scale == "natural") else None
        fig = plots.forest(result, mcid=nat)
        fig.savefig(tmp / "forest.png", dpi=120)
        plt.close(fig)
        fig = plots.mcid_curve(result, candidates=nat, direction=direction, labels=labels)
        fig.savefig(tmp / "mcid.png", dpi=120)
        plt.close(fig)
        figures = ["forest.png", "mcid.png"]
        if not result.fixed:
            fig = plots.tau_posterior(result)
            fig.savefig(tmp / "tau.png", dpi=120)
            plt.close(fig)
            figures.append("tau.png")
        if sensitivity is not None:
            sensitivity.to_csv(tmp / "sensitivity.csv", float_format="%.10g")
        (tmp / "report.md").write_text(
            markdown_report(result, mcid, classical, spec, figures, sensitivity)
        )
        if out_dir.exists():
            if not force:
                raise _Usage(f"--out {out_dir} exists (use --force to replace it)")
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- other commands --------------------------------------------------------------------------
def _cmd_effects(args: argparse.Namespace) -> int:
    from bayesmeta.data import read_csv

    eff = read_csv(args.source, args.measure).effects
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
            import dataclasses

            names = [f.name for f in dataclasses.fields(cls) if f.name != "note"]
            print(f"  {cls.__name__}({', '.join(names)})")
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
    if not isinstance(prior, P.Flat):
        q = prior.ppf([0.025, 0.5, 0.975])
        print(f"  2.5%, 50%, 97.5% quantiles: {q[0]:.4g}, {q[1]:.4g}, {q[2]:.4g}")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from bayesmeta.data import read_csv
    from bayesmeta.spec import load_spec

    if _is_spec(args.source):
        spec = load_spec(args.source)
        sd = spec.load_data()
        print(f"{args.source}: OK ({spec.title}; k = {sd.k}, measure {sd.measure})")
    else:
        if not args.measure:
            raise _Usage("--measure is required to validate a CSV")
        sd = read_csv(args.source, args.measure)
        print(f"{args.source}: OK (k = {sd.k}, {sd.kind} data, measure {sd.measure})")
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

"""Speed of bayesmeta against the R bayesmeta times measured on this project's machine.

Run with ``make bench``. Prints a table; nothing is asserted (timings vary by machine).
R reference times (issue 4, R bayesmeta at its default settings on the 2-core project
machine): 1.26 s per fit for the 6-study Crins case, about 10 s at k = 30 and about
160 s at k = 100; brms about 40 s including compilation.
"""

from __future__ import annotations

import statistics
import time
import warnings

import numpy as np
import pandas as pd

import bayesmeta

R_SECONDS = {6: 1.26, 30: 10.0, 100: 160.0}
CRINS = pd.DataFrame(
    {
        "study": [
            "Heffron 2003",
            "Gibelli 2004",
            "Schuller 2005",
            "Ganschow 2005",
            "Spada 2006",
            "Gras 2008",
        ],
        "events_t": [14, 16, 3, 9, 4, 0],
        "n_t": [61, 28, 18, 54, 36, 50],
        "events_c": [15, 19, 8, 29, 11, 3],
        "n_c": [20, 28, 12, 54, 36, 34],
    }
)


def simulated(k: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.1, 0.6, k)
    y = rng.normal(-0.4, 0.25, k) + rng.normal(0, se)
    return pd.DataFrame({"study": [f"s{i}" for i in range(k)], "estimate": y, "se": se})


def timed(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def exact_job(data, measure):
    def job():
        r = bayesmeta.fit(data, measure, engine="exact", seed=1)
        r.summary()
        r.prob_exceeds([0.5, 0.8] if measure == "OR" else [-0.2, 0.0])

    return job


def startup_rows() -> list[dict]:
    """`bayesmeta --help` and a small exact CSV fit, end to end in a fresh process."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("bayesmeta"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "crins.csv"
        CRINS.to_csv(csv, index=False)
        for what, cmd, target in (
            ("`bayesmeta --help` (target < 0.3 s)", [exe, "--help"], 0.3),
            (
                "`bayesmeta fit crins.csv --measure OR` exact, end to end (target < 1 s)",
                [exe, "fit", str(csv), "--measure", "OR", "--seed", "1"],
                1.0,
            ),
        ):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                subprocess.run(cmd, capture_output=True, check=True)
                times.append(time.perf_counter() - t0)
            rows.append(
                {"what": what, "seconds": statistics.median(times), "R bayesmeta (s)": np.nan}
            )
    return rows


def main() -> None:
    rows = startup_rows() + moderator_rows() + binomial_rows()
    cases = [(6, CRINS, "OR")] + [(k, simulated(k), "GEN") for k in (30, 100, 1000)]
    for k, data, measure in cases:
        kw = {} if measure == "OR" else {}
        if measure == "GEN":
            data = bayesmeta.study_data(data, "GEN")
        job = exact_job(data, measure) if measure == "OR" else (lambda d=data: _gen(d))
        t = timed(job, repeat=30 if k <= 100 else 5)
        rows.append(
            {
                "what": f"exact engine, k = {k} (fit + summary + prob_exceeds)",
                "seconds": t,
                "R bayesmeta (s)": R_SECONDS.get(k, np.nan),
            }
        )
        del kw
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = bayesmeta.fit(CRINS, "OR", engine="nuts", seed=1)
        r.summary()
        r.prob_exceeds([0.5])
    rows.append(
        {
            "what": "NUTS engine, k = 6, end to end (first fit: includes compilation)",
            "seconds": time.perf_counter() - t0,
            "R bayesmeta (s)": R_SECONDS[6],
        }
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = bayesmeta.fit(CRINS, "OR", engine="nuts", seed=2)
        r.summary()
    rows.append(
        {
            "what": "NUTS engine, k = 6, second fit in the same process",
            "seconds": time.perf_counter() - t0,
            "R bayesmeta (s)": R_SECONDS[6],
        }
    )
    rng = np.random.default_rng(3)
    n_an, k = 10_000, 10
    se = rng.uniform(0.1, 0.6, (n_an, k))
    long = pd.DataFrame(
        {
            "analysis": np.repeat(np.arange(n_an), k),
            "study": np.tile([f"s{i}" for i in range(k)], n_an),
            "estimate": (rng.normal(0, 0.3, (n_an, 1)) + rng.normal(0, se)).ravel(),
            "se": se.ravel(),
        }
    )
    t0 = time.perf_counter()
    out = bayesmeta.fit_many(long, measure="SMD", thresholds=[0.2, 0.5])
    t = time.perf_counter() - t0
    rows.append(
        {
            "what": f"fit_many: {n_an:,} analyses of k = {k} (total)",
            "seconds": t,
            "R bayesmeta (s)": n_an * 1.9,
        }
    )
    assert len(out) == n_an
    table = pd.DataFrame(rows)
    table["ms"] = table["seconds"] * 1e3
    table["R / bayesmeta"] = table["R bayesmeta (s)"] / table["seconds"]
    pd.set_option("display.width", 160)
    print(
        table[["what", "ms", "R bayesmeta (s)", "R / bayesmeta"]].to_string(
            index=False, float_format=lambda x: f"{x:,.1f}"
        )
    )
    print(
        "\nTargets: --help < 0.3 s; a small exact CSV fit < 1 s; exact fit + summary + "
        "prob_exceeds < 5 ms for k <= 100 with up to 3 moderators; fit_many 10,000 x k = 10 "
        "< 2 s; exact binomial k = 22 < 100 ms; binary CSV --likelihood binomial < 2 s."
    )
    print(
        "R bayesmeta for fit_many is extrapolated as 10,000 x the k = 10 time "
        "(about 1.9 s, interpolated between the k = 6 and k = 30 timings)."
    )


def moderator_rows() -> list[dict]:
    """Exact meta-regression: fit + summary + prob_exceeds, k = 10 and 100, 0-3 moderators."""
    from bayesmeta.fit import fit_spec
    from bayesmeta.spec import AnalysisSpec

    rows = []
    r_bmr = _r_timing("bcg_bmr_ablat_default")
    for k in (10, 100):
        rng = np.random.default_rng(k)
        base = simulated(k, seed=k)
        for p in range(4):
            data = base.assign(**{f"x{j}": rng.normal(size=k) for j in range(p)})
            formula = "~ " + " + ".join(f"x{j}" for j in range(p)) if p else None
            spec = AnalysisSpec.from_kwargs(
                data=bayesmeta.study_data(data, "GEN"),
                measure="GEN",
                mu_prior="normal(0, 4)",
                tau_prior="halfnormal(0.5)",
                moderators=formula,
                seed=1,
            )

            def job(spec=spec, p=p):
                r = fit_spec(spec)
                r.summary()
                if p:
                    r.prob_exceeds([0.0], scale="analysis", at={f"x{j}": [0.0] for j in range(p)})
                else:
                    r.prob_exceeds([0.0], scale="analysis")

            rows.append(
                {
                    "what": f"exact, k = {k}, {p} moderator(s): fit + summary + prob_exceeds "
                    "(target < 5 ms)",
                    "seconds": timed(job, repeat=20),
                    "R bayesmeta (s)": r_bmr if (k == 10 and p == 1) else np.nan,
                }
            )

    # the same from a DataFrame each time: validation, digest and design matrix included
    def from_frame(data=data, p=p):
        r = bayesmeta.fit(
            data, "GEN", mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", seed=1,
            moderators="~ " + " + ".join(f"x{j}" for j in range(p)),
        )  # fmt: skip
        r.summary()
        r.prob_exceeds([0.0], scale="analysis", at={f"x{j}": [0.0] for j in range(p)})

    rows.append(
        {
            "what": f"  the same, k = {k}, {p} moderators, from a DataFrame (bayesmeta.fit)",
            "seconds": timed(from_frame, repeat=20),
            "R bayesmeta (s)": np.nan,
        }
    )
    return rows


def binomial_rows() -> list[dict]:
    """Exact binomial-normal (2-D grid) fit vs NUTS for k = 22, and the CLI end to end."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    rng = np.random.default_rng(22)
    k = 22
    n_t, n_c = rng.integers(20, 200, k), rng.integers(20, 200, k)
    p_c = rng.uniform(0.05, 0.4, k)
    theta = rng.normal(-0.4, 0.3, k)
    p_t = 1 / (1 + np.exp(-(np.log(p_c / (1 - p_c)) + theta)))
    df = pd.DataFrame(
        {
            "study": [f"s{i}" for i in range(k)],
            "events_t": rng.binomial(n_t, p_t),
            "n_t": n_t,
            "events_c": rng.binomial(n_c, p_c),
            "n_c": n_c,
        }
    )

    def exact():
        bayesmeta.fit(df, "OR", likelihood="binomial", engine="exact", seed=1).summary()

    t_exact = timed(exact, repeat=10)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayesmeta.fit(df, "OR", likelihood="binomial", engine="nuts", seed=1).summary()
    t_nuts = time.perf_counter() - t0
    rows = [
        {
            "what": f"exact binomial-normal, k = {k} (target < 100 ms); "
            f"NUTS takes {t_nuts / t_exact:.0f}x as long",
            "seconds": t_exact,
            "R bayesmeta (s)": np.nan,
        },
        {"what": f"NUTS binomial-normal, k = {k}", "seconds": t_nuts, "R bayesmeta (s)": np.nan},
    ]
    exe = str(Path(sys.executable).with_name("bayesmeta"))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "binary.csv"
        df.head(6).to_csv(csv, index=False)
        for engine in ("exact", "nuts"):
            t0 = time.perf_counter()
            subprocess.run(
                [exe, "fit", str(csv), "--measure", "OR", "--likelihood", "binomial",
                 "--engine", engine, "--seed", "1"],
                capture_output=True, check=False,
            )  # fmt: skip
            rows.append(
                {
                    "what": f"`bayesmeta fit binary.csv --likelihood binomial --engine {engine}`"
                    ", k = 6, end to end (target < 2 s for exact)",
                    "seconds": time.perf_counter() - t0,
                    "R bayesmeta (s)": np.nan,
                }
            )
    return rows


def _r_timing(key: str) -> float:
    """R bayesmeta's median time for a case (tests/reference/bayesmeta_timing.json)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tests" / "reference" / "bayesmeta_timing.json"
    if not path.is_file():
        return np.nan
    case = json.loads(path.read_text())["timings"].get(key)
    return float(case["median_elapsed_seconds"]) if case else np.nan


def _gen(sd):
    r = bayesmeta.fit(
        sd, engine="exact", mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", seed=1
    )
    r.summary()
    r.prob_exceeds([-0.2, 0.0], scale="analysis")


if __name__ == "__main__":
    main()

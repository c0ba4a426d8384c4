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
    rows = startup_rows()
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
    print("\nTargets: < 10 ms per exact fit for k <= 100; 10,000 analyses < 30 s.")
    print(
        "R bayesmeta for fit_many is extrapolated as 10,000 x the k = 10 time "
        "(about 1.9 s, interpolated between the k = 6 and k = 30 timings)."
    )


def _gen(sd):
    r = bayesmeta.fit(
        sd, engine="exact", mu_prior="normal(0, 4)", tau_prior="halfnormal(0.5)", seed=1
    )
    r.summary()
    r.prob_exceeds([-0.2, 0.0], scale="analysis")


if __name__ == "__main__":
    main()

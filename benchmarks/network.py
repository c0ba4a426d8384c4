"""Network meta-analysis speed: exact normal NMA (~50 studies) and binomial NUTS (~25 studies).

Run: ``python benchmarks/network.py``. Targets (issue 11): exact < 100 ms, NUTS < 60 s end
to end. multinma (Stan) and gemtc (JAGS) are not installed on this machine and we found no
published timing for comparable networks, so their column says so instead of inventing one.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from bayesmeta import priors
from bayesmeta.network import fit_network, network_data

TREATMENTS = ["A", "B", "C", "D", "E", "F"]
DESIGNS = [
    ("A", "B"),
    ("A", "C"),
    ("B", "C"),
    ("A", "D"),
    ("C", "D"),
    ("D", "E"),
    ("A", "E"),
    ("E", "F"),
    ("B", "F"),
    ("A", "B", "C"),
]


def simulate(k: int, binary: bool, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = dict(zip(TREATMENTS, [0.0, -0.3, -0.5, 0.2, -0.1, -0.6], strict=True))
    rows = []
    for i in range(k):
        arms = DESIGNS[i % len(DESIGNS)]
        base = rng.normal(-0.5, 0.5)
        for t in arms:
            delta = 0.0 if t == arms[0] else d[t] - d[arms[0]] + 0.2 * rng.normal()
            n = int(rng.integers(40, 200))
            if binary:
                p = 1 / (1 + np.exp(-(base + delta)))
                rows.append(
                    {"study": f"s{i}", "treatment": t, "events": rng.binomial(n, p), "n": n}
                )
            else:
                sd = 1.0
                rows.append(
                    {
                        "study": f"s{i}",
                        "treatment": t,
                        "mean": base + delta + rng.normal(0, sd / np.sqrt(n)),
                        "sd": sd,
                        "n": n,
                    }
                )
    return pd.DataFrame(rows)


def main() -> None:
    df = simulate(50, binary=False)
    nd = network_data(df, "MD")
    fit_network(nd, reference="A", tau_prior=priors.HalfNormal(0.5))  # warm up imports
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        res = fit_network(nd, reference="A", tau_prior=priors.HalfNormal(0.5))
        res.relative_effects(all_pairs=True)
        times.append(time.perf_counter() - t0)
    exact_ms = 1000 * float(np.median(times))
    t0 = time.perf_counter()
    res.sucra()
    sucra_ms = 1000 * (time.perf_counter() - t0)

    dfb = simulate(25, binary=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rb = fit_network(
            dfb,
            "OR",
            reference="A",
            likelihood="binomial",
            tau_prior=priors.HalfNormal(0.5),
            seed=1,
        )
        rb.relative_effects(all_pairs=True)
        rb.sucra()
    nuts_s = time.perf_counter() - t0
    na = "not measured: not installed here, no published timing found"
    rows = [
        ("normal RE NMA, 50 studies, exact (fit + all pairs)", f"{exact_ms:.1f} ms", "<100 ms"),
        ("  + SUCRA from 10000 exact joint draws", f"{sucra_ms:.1f} ms", ""),
        ("binomial RE NMA, 25 studies, NUTS 4x1000, end to end", f"{nuts_s:.1f} s", "<60 s"),
    ]
    print(f"{'analysis':<54} {'bayesmeta':>10}  {'target':<8} multinma/gemtc")
    for name, value, target in rows:
        print(f"{name:<54} {value:>10}  {target:<8} {na if target else ''}")
    ok = rb.fit.diagnostics.ok
    print(f"NUTS diagnostics ok: {ok}")


if __name__ == "__main__":
    main()

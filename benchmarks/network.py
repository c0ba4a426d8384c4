"""Network meta-analysis speed: exact normal NMA (~50 studies) and binomial NUTS (~25 studies).

Run: ``python benchmarks/network.py``. Targets (issue 11): exact < 100 ms, NUTS < 60 s end
to end. multinma (Stan) and gemtc (JAGS) are not installed on this machine; their column
shows :data:`ANCHORS`, multinma's own published runs (no published gemtc timing was found).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from bayesmeta import datasets, priors
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


#: multinma's published wall times. multinma ships precompiled Stan models (no compile
#: time); its rendered docs stamp each fit with the time sampling ended ("Samples were drawn
#: using NUTS(diag_e) at ..."), so the gap between consecutive fits bounds a fit's wall
#: time (1 s resolution; hardware not stated). 4 chains x (1000 warm-up + 1000 draws).
ANCHORS = {
    "parkinsons": (
        "multinma 0.8.0: <= 11 s (Parkinson's RE, arm-based, adapt_delta 0.99, parallel "
        "chains; cran/multinma inst/doc/example_parkinsons.html, stamps at lines 483 and 557)"
    ),
    "binomial": (
        "multinma (dev, Apr 2026): ~4-6 s (smoking cessation RE, binomial logit, 24 "
        "studies, 4 treatments; dmphillippo/multinma reference/nma.md, Examples, stamps of "
        "the FE and RE fits at commits 50b20be and a340bad)"
    ),
    "gemtc": "gemtc (JAGS): no published timing found",
}


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


def _median_ms(job, repeat: int = 7) -> float:
    job()  # warm up imports
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        job()
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def main() -> None:
    park = network_data(datasets.load("parkinsons_tsd2"), "MD")
    park_ms = _median_ms(
        lambda: fit_network(
            park, reference="placebo", tau_prior=priors.Uniform(0, 5)
        ).relative_effects(all_pairs=True)
    )
    nd = network_data(simulate(50, binary=False), "MD")
    holder = {}

    def exact() -> None:
        holder["res"] = fit_network(nd, reference="A", tau_prior=priors.HalfNormal(0.5))
        holder["res"].relative_effects(all_pairs=True)

    exact_ms = _median_ms(exact)
    t0 = time.perf_counter()
    holder["res"].sucra()
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
    draws = f"{rb.spec.chains}x({rb.spec.tune}+{rb.spec.draws})"
    rows = [
        (
            "Parkinson's RE NMA (TSD2, 7 studies), exact, all pairs",
            f"{park_ms:.1f} ms",
            "",
            ANCHORS["parkinsons"],
        ),
        (
            "normal RE NMA, 50 studies, exact (fit + all pairs)",
            f"{exact_ms:.1f} ms",
            "<100 ms",
            ANCHORS["gemtc"],
        ),
        ("  + SUCRA from 10000 exact joint draws", f"{sucra_ms:.1f} ms", "", ""),
        (
            f"binomial RE NMA, 25 studies, NUTS {draws}, end to end",
            f"{nuts_s:.1f} s",
            "<60 s",
            ANCHORS["binomial"],
        ),
    ]
    print(f"{'analysis':<58} {'bayesmeta':>10}  {'target':<8} published anchor")
    for name, value, target, anchor in rows:
        print(f"{name:<58} {value:>10}  {target:<8} {anchor}")
    d = rb.fit.diagnostics
    print(f"NUTS diagnostics ok: {d.ok}" + ("" if d.ok else f" ({'; '.join(d.problems)})"))
    if park_ms > 0:
        print(f"ratio multinma Parkinson's (<= 11 s) / bayesmeta exact: >= {11000 / park_ms:.0f}x")
    print(f"ratio multinma smoking (~5 s) / bayesmeta NUTS (25 studies): {5 / nuts_s:.2f}x")


if __name__ == "__main__":
    main()

"""Write a synthetic RevMan 5 "Data and analyses" CSV export with many analyses.

Used by tests/test_review.py (about 10 analyses) and benchmarks/review.py (100). The
analyses cycle through dichotomous OR (MH, fixed), dichotomous RR (IV, random), continuous
MD (IV, fixed) and continuous SMD (IV, random), with 1 to 15 studies each; the numbers are
drawn from a seeded generator, so the file is the same on every run.

    python tests/data/make_synthetic_review.py OUT.csv [N_ANALYSES]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

HEADER = [
    "Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type",
    "Statistical Method", "Effect Measure", "Analysis Model", "Events 1", "Mean 1", "SD 1",
    "Total 1", "Events 2", "Mean 2", "SD 2", "Total 2", "Group Label 1", "Group Label 2",
    "Left Graph Label", "Right Graph Label", "Year of study",
]  # fmt: skip
KINDS = [
    ("DIC", "MH", "OR", "Fixed"),
    ("DIC", "IV", "RR", "Random"),
    ("CON", "IV", "MD", "Fixed"),
    ("CON", "IV", "SMD", "Random"),
]


def write_synthetic_review(path: str | Path, n: int = 100, seed: int = 2026) -> Path:
    """Write ``n`` analyses (10 outcomes per comparison) to ``path``; return the path."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    rows: list[dict[str, object]] = []
    for a in range(n):
        comp, out = a // 10 + 1, a % 10 + 1
        if out == 1:
            rows.append({"Comparison Number": comp, "Outcome Number": 0, "Subgroup Number": 0,
                         "Name": f"Drug {comp} versus placebo"})  # fmt: skip
        dtype, method, measure, model = KINDS[a % len(KINDS)]
        k = 1 if a % 17 == 5 else int(rng.integers(2, 16))
        rows.append({
            "Comparison Number": comp, "Outcome Number": out, "Subgroup Number": 0,
            "Name": f"Outcome {out} ({measure})", "Data Type": dtype,
            "Statistical Method": method, "Effect Measure": measure, "Analysis Model": model,
            "Group Label 1": f"Drug {comp}", "Group Label 2": "Placebo",
            "Left Graph Label": f"Favours drug {comp}", "Right Graph Label": "Favours placebo",
        })  # fmt: skip
        effect = rng.normal(-0.3, 0.2)
        for s in range(k):
            n1, n2 = (int(x) for x in rng.integers(20, 300, 2))
            row: dict[str, object] = {
                "Comparison Number": comp, "Outcome Number": out, "Subgroup Number": 0,
                "Name": f"Trial {chr(65 + s % 26)}{s // 26 or ''}",
                "Total 1": n1, "Total 2": n2, "Year of study": 1995 + s,
            }  # fmt: skip
            theta = effect + rng.normal(0, 0.2)
            if dtype == "DIC":
                p2 = rng.uniform(0.1, 0.5)
                p1 = 1 / (1 + (1 - p2) / p2 * np.exp(-theta))
                row["Events 1"] = int(rng.binomial(n1, p1))
                row["Events 2"] = int(rng.binomial(n2, p2))
            else:
                sd = rng.uniform(5, 15)
                row.update({"Mean 1": round(20 + theta * sd + rng.normal(0, sd / np.sqrt(n1)), 2),
                            "SD 1": round(sd * rng.uniform(0.8, 1.2), 2),
                            "Mean 2": round(20 + rng.normal(0, sd / np.sqrt(n2)), 2),
                            "SD 2": round(sd * rng.uniform(0.8, 1.2), 2)})  # fmt: skip
            rows.append(row)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, HEADER)
        w.writeheader()
        w.writerows(rows)
    return path


if __name__ == "__main__":
    write_synthetic_review(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100)

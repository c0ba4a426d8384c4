"""Time ``bayesmeta review`` on a synthetic 100-analysis RevMan review (target: < 30 s).

    python benchmarks/review.py [N_ANALYSES]

Runs the review command in-process (read, fit every analysis twice where the review's model
is a common effect, write the SoF tables, the reports and one folder per analysis) and
prints the wall time of each stage. Exits 1 when the whole command takes 30 s or more.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))

from make_synthetic_review import write_synthetic_review  # noqa: E402

LIMIT_S = 30.0


def main(n: int = 100) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_synthetic_review(Path(tmp) / "synthetic.csv", n)
        t0 = time.perf_counter()
        from bayesmeta.review import run_review

        res = run_review(path, progress=False)
        t1 = time.perf_counter()
        res.write(Path(tmp) / "out", progress=False)
        t2 = time.perf_counter()
        failed = [it for it in res.items if it.primary is None]
        total = t2 - t0
        print(
            f"review of {len(res.items)} analyses ({len(failed)} failed): "
            f"import+fit {t1 - t0:.1f} s, write {t2 - t1:.1f} s, total {total:.1f} s "
            f"(limit {LIMIT_S:.0f} s)"
        )
        return 0 if total < LIMIT_S and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))

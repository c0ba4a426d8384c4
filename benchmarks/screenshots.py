"""Render bayesmeta's HTML reports in headless Chromium; save screenshots; fail on errors.

    python benchmarks/screenshots.py [OUT_DIR]      # default /tmp/bayesmeta-screenshots

Builds an analysis report (the crins example, ``write_analysis_html``) and a review report
and SoF page (the Fleiss 1993 RevMan fixture through ``run_review``), opens each page in
Debian's headless Chromium (``apt-get install -y chromium``) with networking features off,
saves a PNG per page, and exits 1 if Chromium logs a console error or a failed request
for any page (the reports must be self-contained), or cannot be run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]
ERROR = re.compile(
    r"CONSOLE.*(error|Uncaught)|ERR_(FILE_NOT_FOUND|NAME_NOT_RESOLVED|INTERNET)", re.I
)


def build_pages(work: Path) -> dict[str, Path]:
    import pandas as pd

    import bayesmeta
    from bayesmeta.html import write_analysis_html
    from bayesmeta.review import run_review

    df = pd.DataFrame({
        "study": ["Heffron 2003", "Gibelli 2004", "Schuller 2005", "Ganschow 2005",
                  "Spada 2006", "Gras 2008 (山田)"],
        "events_t": [14, 16, 3, 9, 4, 0], "n_t": [61, 28, 18, 54, 36, 50],
        "events_c": [15, 19, 8, 29, 11, 3], "n_c": [20, 28, 12, 54, 36, 34],
    })  # fmt: skip
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=df, measure="OR", mcid=[0.8, 0.5], mcid_direction="less",
        mcid_labels=["20% lower odds", "halved odds"], seed=1,
        title="IL-2RA vs control after liver transplant: acute rejection",
    )  # fmt: skip
    analysis = bayesmeta.run_analysis(spec)
    pages = {"analysis": write_analysis_html(analysis, work / "analysis.html")}
    res = run_review(ROOT / "tests/data/revman/fleiss1993.rm5", progress=False)
    out = res.write(work / "review")
    pages["review"] = out / "report.html"
    pages["sof"] = out / "sof.html"
    pages["review-analysis"] = out / "001-1.1" / "report.html"
    nma = bayesmeta.AnalysisSpec.from_kwargs(
        dataset="parkinsons_tsd2", measure="MD", reference="placebo",
        tau_prior="uniform(0, 5)", consistency="nodesplit", mcid=[-0.5],
        mcid_direction="less", lower_better=True, seed=1,
        title="Parkinson's disease: off-time reduction (TSD2 network)",
    )  # fmt: skip
    pages["network"] = bayesmeta.run_analysis(nma).write(work / "network") / "report.html"
    return pages


def shoot(page: Path, png: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
               "--window-size=1280,2000", page.resolve().as_uri()]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    errors = [line for line in proc.stderr.splitlines() if ERROR.search(line)]
    if proc.returncode != 0 or not png.is_file():
        errors.append(f"chromium exited {proc.returncode}: {proc.stderr[-500:]}")
    return errors


def main(out_dir: str = "/tmp/bayesmeta-screenshots") -> int:
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name, page in build_pages(Path(tmp)).items():
            png = out / f"{name}.png"
            errors = shoot(page, png)
            print(f"{name}: {png}" + (f"  ERRORS: {errors}" if errors else ""))
            failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:2]))

"""Self-contained HTML reports (bayesmeta.html)."""

import re

import pandas as pd
import pytest

import bayesmeta
from bayesmeta import html


@pytest.fixture(scope="module")
def analysis(crins):
    spec = bayesmeta.AnalysisSpec.from_kwargs(
        data=crins, measure="OR", mcid=[0.8, 0.5], mcid_direction="less", seed=1,
        title="IL-2RA vs control: acute rejection",
    )  # fmt: skip
    with pytest.warns(bayesmeta.ModelWarning, match="zero cells in 'Gras 2008'"):
        return bayesmeta.run_analysis(spec)


def _no_network(page: str) -> None:
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page


def test_write_analysis_html(analysis, tmp_path):
    path = html.write_analysis_html(analysis, tmp_path / "report.html")
    page = path.read_text()
    _no_network(page)
    assert "<h1>IL-2RA vs control: acute rejection</h1>" in page
    assert page.count("<svg") >= 1 and page.count("data:image/png;base64,") == 2
    assert "Heffron 2003" in page and "Provenance" in page


def test_html_escapes_study_names(crins):
    df = crins.assign(study=["<b>x</b>", *crins["study"][1:]])
    spec = bayesmeta.AnalysisSpec.from_kwargs(data=df, measure="OR", seed=1)
    with pytest.warns(bayesmeta.ModelWarning, match="zero cells"):
        a = bayesmeta.run_analysis(spec)
    page = html.analysis_html(a)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page


def test_review_pages(tmp_path):
    from bayesmeta.review import run_review

    res = run_review(
        __import__("pathlib").Path(__file__).parent / "data/revman/fleiss1993.csv",
        progress=False,
    )
    out = res.write(tmp_path / "out")
    for name in ("report.html", "sof.html", "001-1.1/report.html"):
        page = (out / name).read_text()
        _no_network(page)
    report = (out / "report.html").read_text()
    assert 'class="sof"' in report and "Not analysed" in report
    assert pd.read_html is not None  # the SoF table parses as a table
    assert report.count("<svg") == 6

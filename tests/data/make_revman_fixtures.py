"""Generate the RevMan fixtures in tests/data/revman/ from the published Fleiss (1993) trials.

Run from the repository root::

    .venv/bin/python tests/data/make_revman_fixtures.py

It writes one small review in the three formats that ``bayesmeta.revman`` reads:

- ``fleiss1993.rm5``: RevMan 5 XML, encoded ISO-8859-1 (declared in the XML header), with
  the ``LOG_*`` attributes in log10 and ``SE``/``VAR`` on the natural-log scale, as RevMan
  writes them;
- ``fleiss1993.csv``: the RevMan 5 "Data and analyses" CSV export (UTF-8, the column set of
  R meta's ``Fleiss1993_CR.csv``);
- ``fleiss1993-data.zip``: the RevMan Web / Cochrane Library data package (the inner
  ``<id>-data.zip``: CSVs with a UTF-8 byte-order mark, unused fields written as ``0.0``).

Data
----
Trial numbers are the published data of Fleiss JL (1993), The statistical basis of
meta-analysis, Stat Methods Med Res 2:121-145: seven aspirin trials after myocardial
infarction (deaths/randomised) and five trials of mental health treatment (mean, SD, n of
medical utilisation), as in R meta's ``Fleiss1993bin``/``Fleiss1993cont`` and its sample
review files. The study IDs, names and years are those of the sample review.

Analyses (comparison.outcome):

- 1.1 dichotomous OR, Mantel-Haenszel, fixed effect: as in the sample review;
- 1.2 continuous MD, inverse variance, fixed effect: as in the sample CSV export (the sample
  ``.rm5`` and data package hold this outcome as an SMD without computed totals);
- 2.1 dichotomous OR, MH, fixed, with two subgroups (publication before 1980 / 1980 or later);
- 2.2 generic inverse variance ("Odds Ratio", log OR and SE from the counts, entered on the
  log scale), DerSimonian-Laird random effects;
- 2.3 O-E and variance (Peto), 2.4 Peto odds ratio, 2.5 an outcome without studies: these
  cannot be analysed and must appear in ``Review.skipped``.

Where the pooled results come from
----------------------------------
- 1.1 and the overall result of 2.1: copied from R meta's sample files
  (``inst/extdata/Fleiss1993.rm5`` attributes at full precision, ``Fleiss1993_CR.csv`` at 8
  decimals, the data package ``921923100913455418-overall-estimates-and-settings.csv`` at 6
  decimals); the constants ``RM5_TOTALS_1_1``, ``CSV_TOTALS_1_1`` and ``PKG_TOTALS_1_1``.
- 1.2: copied from ``Fleiss1993_CR.csv`` (``CSV_TOTALS_1_2``); the ``.rm5`` fixture carries
  the same 8-decimal strings, the data package those numbers rounded to 6 decimals.
- 2.1 subgroups and subgroup test, 2.2: RevMan's own output is not available for these, so
  they come from R metafor (``tests/data/revman/extra_totals.R`` -> ``extra_totals.json``),
  which reproduces the RevMan totals of the sample files exactly.
- Per-study display values (effect, CI, SE, weight, O-E, variance) are computed here with
  RevMan's formulas (z = 1.959963984540054); they are not read by the tests except as
  ``revman_studies``.

Check against the real sample files
-----------------------------------
Done with a scratch script (/tmp/revman_check.py, not committed) that read R meta's real
``Fleiss1993.rm5``, ``Fleiss1993_CR.csv`` and ``Fleiss1993.zip`` (nested data package) and
these fixtures with ``bayesmeta.revman.read_review``, and R meta's own readers (``read.rm5``,
``read.cdir``, sourced from the meta sources) on the real files. Results:

- outcome 1.1: identical studies, labels ("MRC-1 1974", ...), years and counts in all six
  files and in R meta's readers; identical ``revman_totals`` (estimate, CI, Q, I2, z, p) in
  each real/fixture pair at each format's precision; the per-study effects, CIs, SEs and MH
  weights computed here equal the real ``.rm5`` attributes to < 1e-15 (relative);
- outcome 1.2: identical studies and means/SDs/ns in all six files; measure SMD in the real
  ``.rm5`` and data package and MD in the real CSV export (the fixtures use MD throughout);
  ``revman_totals`` of the real CSV and the CSV fixture are identical;
- R meta's readers agree with ours on the real files: counts, means, SDs, ns, study labels
  and years, per-study effects and SEs (CSV), MH and MD totals; R meta reads the ``.rm5``
  attribute ``Q`` as heterogeneity, but it is the test for subgroup differences (``CHI2``
  holds Cochran's Q: 9.946055983220074 = Q around the MH estimate).
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path(__file__).resolve().parent / "revman"
Z975 = 1.959963984540054  # RevMan's 97.5% normal quantile (reproduces the sample CIs)
REVIEW_ID = "900000000000000001"  # made up; RevMan Web uses the review's numeric ID
MODIFIED = "2024-01-01 12:00:00 +0100"


# --------------------------------------------------------------------------------------
# Published data (Fleiss 1993); IDs, names and years as in R meta's sample review
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Study:
    id: str
    name: str
    year: int
    order: int


ASPIRIN = [  # study, deaths/randomised aspirin, deaths/randomised control
    (Study("STD-MRC_x002d_1", "MRC-1", 1974, 1), 49, 615, 67, 624),
    (Study("STD-CDP", "CDP", 1976, 2), 44, 758, 64, 771),
    (Study("STD-MRC_x002d_2", "MRC-2", 1979, 6), 102, 832, 126, 850),
    (Study("STD-GASP", "GASP", 1979, 8), 32, 317, 38, 309),
    (Study("STD-PARIS", "PARIS", 1980, 9), 85, 810, 52, 406),
    (Study("STD-AMIS", "AMIS", 1980, 10), 246, 2267, 219, 2257),
    (Study("STD-ISIS_x002d_2", "ISIS-2", 1988, 11), 1570, 8587, 1720, 8600),
]
MENTAL = [  # study, mean, SD, n (treatment), mean, SD, n (control)
    (Study("STD-Davis", "Davis", 1973, 12), 5.0, 4.7, 13, 6.5, 3.8, 13),
    (Study("STD-Florell", "Florell", 1971, 13), 4.9, 1.71, 30, 6.1, 2.3, 50),
    (Study("STD-Gruen", "Gruen", 1975, 14), 22.5, 3.44, 35, 24.9, 10.65, 35),
    (Study("STD-Hart", "Hart", 1975, 15), 12.5, 1.47, 20, 12.3, 1.66, 20),
    (Study("STD-Wilson", "Wilson", 1977, 16), 6.5, 0.76, 8, 7.38, 1.41, 8),
]
STUDIES = sorted([s for s, *_ in ASPIRIN + MENTAL], key=lambda s: s.name)

# --------------------------------------------------------------------------------------
# Totals stored by RevMan in R meta's sample files (copied verbatim)
# --------------------------------------------------------------------------------------
# inst/extdata/Fleiss1993.rm5, DICH_OUTCOME CMP-001.01
RM5_TOTALS_1_1 = {
    "CHI2": "9.946055983220074",
    "CI_END": "0.9569947088336491",
    "CI_START": "0.8405144008917793",
    "DF": "6",
    "EFFECT_SIZE": "0.8968655609130709",
    "I2": "39.67458045558399",
    "LOG_CI_END": "-0.019090463404662757",
    "LOG_CI_START": "-0.07545484120814404",
    "LOG_EFFECT_SIZE": "-0.04727265230640342",
    "P_CHI2": "0.1269422521561745",
    "P_Z": "0.0010103343130005407",
    "TAU2": "0.0",
    "WEIGHT": "100.00000000000001",
    "Z": "3.287633061337987",
}
# inst/extdata/Fleiss1993_CR.csv, outcome rows 1.1 and 1.2 (columns Effect Estimate ... df)
CSV_TOTALS_1_1 = {
    "Effect Estimate": "0.89686556",
    "CI Start": "0.8405144",
    "CI End": "0.95699471",
    "Weight": "100",
    "Q": "9.94605598",
    "P(Q)": "0.12694225",
    "I²(Q)": "39.67458046",
    "Tau²": "0",
    "Z": "3.28763306",
    "P(Z)": "0.00101033",
    "df": "6",
}
CSV_TOTALS_1_2 = {
    "Effect Estimate": "-0.70938839",
    "CI Start": "-1.25848502",
    "CI End": "-0.16029176",
    "Weight": "100",
    "Q": "5.66012379",
    "P(Q)": "0.22600895",
    "I²(Q)": "29.33016758",
    "Tau²": "0",
    "Z": "2.53211477",
    "P(Z)": "0.01133769",
    "df": "4",
}
# Fleiss1993.zip -> 921923100913455418-overall-estimates-and-settings.csv, analysis 1.1
PKG_TOTALS_1_1 = {
    "Mean": "0.896866",
    "CI start": "0.840514",
    "CI end": "0.956995",
    "Heterogeneity Tau²": "",
    "Heterogeneity Chi²": "9.946056",
    "Heterogeneity df": "6",
    "Heterogeneity P": "0.126942",
    "Heterogeneity I²": "39.67458",
    "Effect Z": "3.287633",
    "Effect P": "0.00101",
}


def extra_totals() -> dict:
    """Reference totals from R metafor for the outcomes the sample files lack."""
    return json.loads((OUT / "extra_totals.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------
# Number formats of the three files
# --------------------------------------------------------------------------------------
def f_rm5(x: float | int) -> str:
    """RevMan 5 XML: Java's shortest round-trip double ('0.0', '6', '0.8968655609130709')."""
    return str(x) if isinstance(x, int) else repr(float(x))


def _fixed(x: float, digits: int) -> str:
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def f_csv(x: float | int) -> str:
    """RevMan 5 CSV export: at most 8 decimals, trailing zeros dropped ('100', '0.8405144')."""
    return str(x) if isinstance(x, int) else _fixed(x, 8)


def f_pkg(x: float | int) -> str:
    """RevMan Web data package: at most 6 decimals, trailing zeros dropped."""
    return str(x) if isinstance(x, int) else _fixed(x, 6)


UNUSED = "0.0"  # data package: fields that do not apply to the data type


# --------------------------------------------------------------------------------------
# Per-study display values (RevMan's formulas)
# --------------------------------------------------------------------------------------
@dataclass
class Row:
    study: Study
    kind: str  # DICH, CONT, IV, IPD
    data: dict[str, float | int]
    effect: float  # natural scale
    se: float  # analysis (log for ratios) scale
    ratio: bool
    weight: float = 0.0
    subgroup: str | None = None

    @property
    def ci(self) -> tuple[float, float]:
        if self.ratio:
            lg = math.log(self.effect)
            return math.exp(lg - Z975 * self.se), math.exp(lg + Z975 * self.se)
        return self.effect - Z975 * self.se, self.effect + Z975 * self.se


def dich_rows(method: str) -> list[Row]:
    rows = []
    for st, e1, n1, e2, n2 in ASPIRIN:
        a, b, c, d = e1, n1 - e1, e2, n2 - e2
        n = n1 + n2
        data = {"e1": e1, "n1": n1, "e2": e2, "n2": n2}
        if method == "PETO":
            oe = a - n1 * (a + c) / n
            v = n1 * n2 * (a + c) * (b + d) / (n * n * (n - 1))
            data |= {"oe": oe, "var": v}
            rows.append(Row(st, "DICH", data, math.exp(oe / v), 1 / math.sqrt(v), True, v))
        else:
            se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
            rows.append(Row(st, "DICH", data, a * d / (b * c), se, True, b * c / n))
    return _percent(rows)


def cont_rows() -> list[Row]:
    rows = []
    for st, m1, s1, n1, m2, s2, n2 in MENTAL:
        se = math.sqrt(s1**2 / n1 + s2**2 / n2)
        data = {"m1": m1, "s1": s1, "n1": n1, "m2": m2, "s2": s2, "n2": n2}
        rows.append(Row(st, "CONT", data, m1 - m2, se, False, 1 / se**2))
    return _percent(rows)


def giv_rows(tau2: float) -> list[Row]:
    rows = []
    for st, e1, n1, e2, n2 in ASPIRIN:
        a, b, c, d = e1, n1 - e1, e2, n2 - e2
        y, se = math.log(a * d / (b * c)), math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        data = {"estimate": y, "se": se, "n1": n1, "n2": n2}
        rows.append(Row(st, "IV", data, math.exp(y), se, True, 1 / (se**2 + tau2)))
    return _percent(rows)


def oe_rows() -> list[Row]:
    rows = dich_rows("PETO")
    for r in rows:
        r.kind = "IPD"
    return rows


def _percent(rows: list[Row]) -> list[Row]:
    total = sum(r.weight for r in rows)
    for r in rows:
        r.weight = 100 * r.weight / total
    return rows


# --------------------------------------------------------------------------------------
# The review: outcomes with their settings and totals in canonical keys
# --------------------------------------------------------------------------------------
@dataclass
class Subgroup:
    no: int
    name: str
    rows: list[Row]
    totals: dict[str, float]


@dataclass
class Outcome:
    comp: int
    no: int
    name: str
    kind: str  # DICH, CONT, IV, IPD
    measure: dict[str, str]  # per format: rm5, csv, pkg
    method: dict[str, str | None]
    random: bool | None
    labels: tuple[str, str]
    rows: list[Row] = field(default_factory=list)
    subgroups: list[Subgroup] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)  # canonical, for computed formats
    copied: dict[str, dict[str, str]] = field(default_factory=dict)  # verbatim, per format

    @property
    def ratio(self) -> bool:
        return self.measure["rm5"] not in ("MD", "SMD", "RD")

    @property
    def all_rows(self) -> list[Row]:
        return [r for sg in self.subgroups for r in sg.rows] if self.subgroups else self.rows


def _canonical(d: dict) -> dict[str, float]:
    return {k: d[k] for k in d if k not in ("log_estimate", "se")}


def review() -> tuple[dict[int, str], list[Outcome]]:
    extra = extra_totals()
    comparisons = {
        1: "Examples from Fleiss (1993)",
        2: "Aspirin after myocardial infarction: further analyses (bayesmeta test fixture)",
    }
    o11 = Outcome(
        1,
        1,
        "Aspirin for Preventing Death after Myocardial Infarction",
        "DICH",
        {"rm5": "OR", "csv": "OR", "pkg": "Odds Ratio"},
        {"rm5": "MH", "csv": "MH", "pkg": "MH"},
        False,
        ("Aspirin", "Control"),
        rows=dich_rows("MH"),
        copied={"rm5": RM5_TOTALS_1_1, "csv": CSV_TOTALS_1_1, "pkg": PKG_TOTALS_1_1},
    )
    md = {k: float(v) for k, v in CSV_TOTALS_1_2.items()}
    o12 = Outcome(
        1,
        2,
        "Mental Health Treatment versus Control",
        "CONT",
        {"rm5": "MD", "csv": "MD", "pkg": "Mean Difference"},
        {"rm5": "IV", "csv": "IV", "pkg": "IV"},
        False,
        ("Mental Health Treatment", "Control"),
        rows=cont_rows(),
        totals={
            "estimate": md["Effect Estimate"],
            "ci_lower": md["CI Start"],
            "ci_upper": md["CI End"],
            "q": md["Q"],
            "df": 4,
            "p_q": md["P(Q)"],
            "i2": md["I²(Q)"],
            "tau2": 0.0,
            "z": md["Z"],
            "p_z": md["P(Z)"],
        },
        copied={
            "csv": CSV_TOTALS_1_2,
            "rm5": {  # the same 8-decimal numbers, as rm5 attributes
                "CHI2": CSV_TOTALS_1_2["Q"],
                "CI_END": CSV_TOTALS_1_2["CI End"],
                "CI_START": CSV_TOTALS_1_2["CI Start"],
                "DF": "4",
                "EFFECT_SIZE": CSV_TOTALS_1_2["Effect Estimate"],
                "I2": CSV_TOTALS_1_2["I²(Q)"],
                "P_CHI2": CSV_TOTALS_1_2["P(Q)"],
                "P_Z": CSV_TOTALS_1_2["P(Z)"],
                "TAU2": "0.0",
                "WEIGHT": "100.0",
                "Z": CSV_TOTALS_1_2["Z"],
            },
        },
    )
    # 2.1: subgroups by publication year; overall = 1.1 (RevMan's own numbers)
    rows = dich_rows("MH")
    early = [r for r in rows if r.study.year < 1980]
    late = [r for r in rows if r.study.year >= 1980]
    names = ("Trials published before 1980", "Trials published 1980 or later")
    for r in early:
        r.subgroup = names[0]
    for r in late:
        r.subgroup = names[1]
    o21 = Outcome(
        2,
        1,
        "All-cause mortality by publication date",
        "DICH",
        {"rm5": "OR", "csv": "OR", "pkg": "Odds Ratio"},
        {"rm5": "MH", "csv": "MH", "pkg": "MH"},
        False,
        ("Aspirin", "Control"),
        subgroups=[
            Subgroup(1, names[0], early, _canonical(extra["2.1.1"])),
            Subgroup(2, names[1], late, _canonical(extra["2.1.2"])),
        ],
        totals=dict(extra["2.1"]),
        copied={"rm5": RM5_TOTALS_1_1, "csv": CSV_TOTALS_1_1, "pkg": PKG_TOTALS_1_1},
    )
    o22 = Outcome(
        2,
        2,
        "Death: log odds ratio ± SE (generic inverse variance)",
        "IV",
        {"rm5": "Odds Ratio", "csv": "Odds Ratio", "pkg": "Odds Ratio"},
        {"rm5": "IV", "csv": "IV", "pkg": "IV"},
        True,
        ("Aspirin", "Control"),
        rows=giv_rows(extra["2.2"]["tau2"]),
        totals=_canonical(extra["2.2"]),
    )
    o23 = Outcome(
        2,
        3,
        "Death: O-E and variance (Peto)",
        "IPD",
        {"rm5": "Peto Odds Ratio", "csv": "PETO_OR", "pkg": "Peto Odds Ratio"},
        {"rm5": None, "csv": "EXP_O_E_VAR", "pkg": "EXP_O_E_VAR"},
        None,
        ("Aspirin", "Control"),
        rows=oe_rows(),
    )
    o24 = Outcome(
        2,
        4,
        "Death: Peto odds ratio",
        "DICH",
        {"rm5": "PETO_OR", "csv": "PETO_OR", "pkg": "Peto Odds Ratio"},
        {"rm5": "PETO", "csv": "PETO", "pkg": "Peto"},
        False,
        ("Aspirin", "Control"),
        rows=dich_rows("PETO"),
    )
    o25 = Outcome(
        2,
        5,
        "Reinfarction (no data reported)",
        "DICH",
        {"rm5": "RR", "csv": "RR", "pkg": "Risk Ratio"},
        {"rm5": "MH", "csv": "MH", "pkg": "MH"},
        False,
        ("Aspirin", "Control"),
    )
    return comparisons, [o11, o12, o21, o22, o23, o24, o25]


def _sums(rows: list[Row]) -> dict[str, int]:
    out = {"n1": sum(int(r.data["n1"]) for r in rows), "n2": sum(int(r.data["n2"]) for r in rows)}
    if rows and "e1" in rows[0].data:
        out["e1"] = sum(int(r.data["e1"]) for r in rows)
        out["e2"] = sum(int(r.data["e2"]) for r in rows)
    return out


# --------------------------------------------------------------------------------------
# RevMan 5 .rm5 (XML)
# --------------------------------------------------------------------------------------
def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _element(tag: str, attrs: dict[str, str], close: bool = True) -> str:
    body = " ".join(f'{k}="{_xml_escape(attrs[k])}"' for k in sorted(attrs))
    return f"<{tag} {body}{'/' if close else ''}>"


_RM5_STAT_KEYS = ("CHI2", "CI_END", "CI_START", "EFFECT_SIZE", "I2", "P_CHI2", "P_Z", "TAU2", "Z")


def _rm5_stats(totals: dict[str, float], ratio: bool) -> dict[str, str]:
    if not totals:
        out = {k: "" for k in _RM5_STAT_KEYS}
        return out | (
            {"LOG_CI_END": "", "LOG_CI_START": "", "LOG_EFFECT_SIZE": ""} if ratio else {}
        )
    out = {
        "CHI2": f_rm5(totals["q"]),
        "CI_END": f_rm5(totals["ci_upper"]),
        "CI_START": f_rm5(totals["ci_lower"]),
        "DF": f_rm5(int(totals["df"])),
        "EFFECT_SIZE": f_rm5(totals["estimate"]),
        "I2": f_rm5(float(totals["i2"])),
        "P_CHI2": f_rm5(totals["p_q"]),
        "P_Z": f_rm5(totals["p_z"]),
        "TAU2": f_rm5(float(totals["tau2"])),
        "Z": f_rm5(totals["z"]),
    }
    if ratio:
        out |= {
            "LOG_CI_END": f_rm5(math.log10(totals["ci_upper"])),
            "LOG_CI_START": f_rm5(math.log10(totals["ci_lower"])),
            "LOG_EFFECT_SIZE": f_rm5(math.log10(totals["estimate"])),
        }
    return out


def _rm5_data(o: Outcome, r: Row) -> str:
    lo, hi = r.ci
    attrs = {
        "CI_END": f_rm5(hi),
        "CI_START": f_rm5(lo),
        "EFFECT_SIZE": f_rm5(r.effect),
        "ESTIMABLE": "YES",
        "MODIFIED": MODIFIED,
        "MODIFIED_BY": "[Empty name]",
        "ORDER": str(r.study.order),
        "SE": f_rm5(r.se),
        "STUDY_ID": r.study.id,
        "TOTAL_1": str(r.data["n1"]),
        "TOTAL_2": str(r.data["n2"]),
        "WEIGHT": f_rm5(r.weight),
    }
    if r.ratio:
        attrs |= {
            "LOG_CI_END": f_rm5(math.log10(hi)),
            "LOG_CI_START": f_rm5(math.log10(lo)),
            "LOG_EFFECT_SIZE": f_rm5(math.log10(r.effect)),
        }
    if o.kind == "DICH":
        attrs |= {
            "EVENTS_1": str(r.data["e1"]),
            "EVENTS_2": str(r.data["e2"]),
            "O_E": f_rm5(r.data.get("oe", 0.0)),
            "VAR": f_rm5(r.data.get("var", r.se**2)),
        }
    elif o.kind == "CONT":
        attrs |= {
            "MEAN_1": f_rm5(r.data["m1"]),
            "MEAN_2": f_rm5(r.data["m2"]),
            "SD_1": f_rm5(r.data["s1"]),
            "SD_2": f_rm5(r.data["s2"]),
        }
    elif o.kind == "IV":
        attrs["ESTIMATE"] = f_rm5(r.data["estimate"])  # entered on the (natural) log scale
    elif o.kind == "IPD":
        attrs |= {"O_E": f_rm5(r.data["oe"]), "VAR": f_rm5(r.data["var"])}
    return _element(f"{o.kind}_DATA", attrs)


def write_rm5(comparisons: dict[int, str], outcomes: list[Outcome]) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1" standalone="no"?>',
        _element(
            "COCHRANE_REVIEW",
            {
                "DESCRIPTION": "",
                "DOI": "",
                "GROUP_ID": "",
                "ID": REVIEW_ID,
                "MERGED_FROM": "",
                "MODIFIED": MODIFIED,
                "MODIFIED_BY": "[Empty name]",
                "REVIEW_NO": "",
                "REVMAN_SUB_VERSION": "5.0.23",
                "REVMAN_VERSION": "5",
                "SPLIT_FROM": "",
                "STAGE": "R",
                "STATUS": "A",
                "TYPE": "INTERVENTION",
                "VERSION_NO": "0.0",
            },
            close=False,
        ),
        _element("COVER_SHEET", {"MODIFIED": MODIFIED, "MODIFIED_BY": "[Empty name]"}, False),
        "<TITLE>Examples from Fleiss 1993</TITLE>",
        "<CONTACT/>",
        "<CREATORS/>",
        "<DATES/>",
        "<WHATS_NEW/>",
        "<HISTORY/>",
        "<SOURCES_OF_SUPPORT/>",
        "<KEYWORDS/>",
        "</COVER_SHEET>",
        "<MAIN_TEXT>",
        "<SUMMARY/>",
        "<ABSTRACT/>",
        "<BODY/>",
        "</MAIN_TEXT>",
        "<STUDIES_AND_REFERENCES>",
        "<STUDIES>",
        "<INCLUDED_STUDIES>",
    ]
    for st in STUDIES:
        attrs = {"DATA_SOURCE": "PUB", "ID": st.id, "NAME": st.name, "YEAR": str(st.year)}
        lines += [
            _element("STUDY", attrs | {"MODIFIED": MODIFIED, "MODIFIED_BY": "[Empty name]"}, False),
            '<REFERENCE PRIMARY="NO" TYPE="JOURNAL_ARTICLE">',
            "<IDENTIFIERS/>",
            "</REFERENCE>",
            "<IDENTIFIERS/>",
            "</STUDY>",
        ]
    lines += [
        "</INCLUDED_STUDIES>",
        "<EXCLUDED_STUDIES/>",
        "<AWAITING_STUDIES/>",
        "<ONGOING_STUDIES/>",
        "</STUDIES>",
        "<OTHER_REFERENCES/>",
        "</STUDIES_AND_REFERENCES>",
        "<CHARACTERISTICS_OF_STUDIES>",
        '<CHARACTERISTICS_OF_INCLUDED_STUDIES SORT_BY="STUDY">',
    ]
    for st in STUDIES:
        lines += [
            f'<INCLUDED_CHAR STUDY_ID="{st.id}">',
            "<CHAR_METHODS/>",
            "<CHAR_PARTICIPANTS/>",
            "<CHAR_INTERVENTIONS/>",
            "<CHAR_OUTCOMES/>",
            "<CHAR_NOTES/>",
            "</INCLUDED_CHAR>",
        ]
    lines += [
        "<FOOTNOTES/>",
        "</CHARACTERISTICS_OF_INCLUDED_STUDIES>",
        "</CHARACTERISTICS_OF_STUDIES>",
        "<QUALITY_ITEMS/>",
        "<SOF_TABLES/>",
        "<ADDITIONAL_TABLES/>",
        _element(
            "ANALYSES_AND_DATA",
            {"CALCULATED_DATA": "YES", "MODIFIED": MODIFIED, "MODIFIED_BY": "[Empty name]"},
            False,
        ),
    ]
    for cno, cname in comparisons.items():
        lines += [
            _element(
                "COMPARISON",
                {
                    "ID": f"CMP-{cno:03d}",
                    "MODIFIED": MODIFIED,
                    "MODIFIED_BY": "[Empty name]",
                    "NO": str(cno),
                },
                False,
            ),
            f"<NAME>{_xml_escape(cname)}</NAME>",
        ]
        for o in (o for o in outcomes if o.comp == cno):
            lines += _rm5_outcome(o)
        lines.append("</COMPARISON>")
    lines += [
        "</ANALYSES_AND_DATA>",
        "<FIGURES/>",
        "<FEEDBACK/>",
        "<APPENDICES/>",
        "<EXTENSIONS/>",
        "</COCHRANE_REVIEW>",
    ]
    return ("\n".join(lines) + "\n").encode("iso-8859-1")


def _rm5_outcome(o: Outcome) -> list[str]:
    rows = o.all_rows
    sums = _sums(rows)
    attrs = {
        "CI_STUDY": "95",
        "CI_TOTAL": "95",
        "DF": str(max(len(rows) - 1, 0)),
        "ESTIMABLE": "YES" if rows else "NO",
        "I2_Q": "0.0",
        "ID": f"CMP-{o.comp:03d}.{o.no:02d}",
        "MODIFIED": MODIFIED,
        "MODIFIED_BY": "[Empty name]",
        "NO": str(o.no),
        "P_Q": "0.0",
        "Q": "0.0",
        "SCALE": "100.0",
        "SORT_BY": "USER",
        "STUDIES": str(len(rows)),
        "SUBGROUPS": "YES" if o.subgroups else "NO",
        "SUBGROUP_TEST": "YES",
        "TOTALS": "YES",
        "TOTAL_1": str(sums["n1"]),
        "TOTAL_2": str(sums["n2"]),
        "WEIGHT": "100.0" if rows else "0.0",
    }
    if o.kind == "DICH":
        attrs |= {"EVENTS_1": str(sums.get("e1", 0)), "EVENTS_2": str(sums.get("e2", 0))}
        attrs |= {"SWAP_EVENTS": "NO"}
    if o.kind in ("DICH", "CONT"):
        attrs["EFFECT_MEASURE"] = o.measure["rm5"]
    if o.kind == "CONT":
        attrs["UNITS"] = ""
    if o.kind == "IV":
        attrs |= {"LOG_DATA": "YES", "ENTER_N": "YES"}
    if o.method["rm5"] is not None:
        attrs["METHOD"] = o.method["rm5"]
    if o.random is not None:
        attrs["RANDOM"] = "YES" if o.random else "NO"
    attrs |= _rm5_stats({} if "rm5" in o.copied else o.totals, o.ratio)
    attrs |= o.copied.get("rm5", {})
    if o.subgroups:  # Q, P_Q and I2_Q: the test for subgroup differences
        attrs |= {
            "Q": f_rm5(o.totals["q_subgroups"]),
            "P_Q": f_rm5(o.totals["p_subgroups"]),
            "I2_Q": f_rm5(o.totals["i2_subgroups"]),
        }
    out = [
        _element(f"{o.kind}_OUTCOME", attrs, False),
        f"<NAME>{_xml_escape(o.name)}</NAME>",
        f"<GROUP_LABEL_1>{o.labels[0]}</GROUP_LABEL_1>",
        f"<GROUP_LABEL_2>{o.labels[1]}</GROUP_LABEL_2>",
        "<GRAPH_LABEL_1>Favours experimental</GRAPH_LABEL_1>",
        "<GRAPH_LABEL_2>Favours control</GRAPH_LABEL_2>",
    ]
    if o.kind in ("IV", "IPD"):
        out.append(f"<EFFECT_MEASURE>{o.measure['rm5']}</EFFECT_MEASURE>")
    if o.subgroups:
        for sg in o.subgroups:
            s = _sums(sg.rows)
            sattrs = {
                "DF": str(len(sg.rows) - 1),
                "ESTIMABLE": "YES",
                "EVENTS_1": str(s["e1"]),
                "EVENTS_2": str(s["e2"]),
                "ID": f"CMP-{o.comp:03d}.{o.no:02d}.{sg.no:02d}",
                "MODIFIED": MODIFIED,
                "MODIFIED_BY": "[Empty name]",
                "NO": str(sg.no),
                "STUDIES": str(len(sg.rows)),
                "TOTAL_1": str(s["n1"]),
                "TOTAL_2": str(s["n2"]),
                "WEIGHT": f_rm5(sum(r.weight for r in sg.rows)),
            }
            sattrs |= _rm5_stats(sg.totals, o.ratio)
            out += [
                _element(f"{o.kind}_SUBGROUP", sattrs, False),
                f"<NAME>{_xml_escape(sg.name)}</NAME>",
            ]
            out += [_rm5_data(o, r) for r in sg.rows]
            out.append(f"</{o.kind}_SUBGROUP>")
    else:
        out += [_rm5_data(o, r) for r in o.rows]
    out.append(f"</{o.kind}_OUTCOME>")
    return out


# --------------------------------------------------------------------------------------
# RevMan 5 "Data and analyses" CSV export
# --------------------------------------------------------------------------------------
CSV_COLUMNS = (
    "Comparison Number,Outcome Number,Subgroup Number,Name,Data Type,Statistical Method,"
    "Effect Measure,Analysis Model,Events 1,Mean 1,SD 1,Total 1,Events 2,Mean 2,SD 2,Total 2,"
    "Effect Estimate,SE,CI Start,CI End,Weight,Q,P(Q),I²(Q),Tau²,Z,P(Z),Qint,P(Qint),"
    "I²(Qint),df,Group Label 1,Group Label 2,Left Graph Label,Right Graph Label,"
    "Year of study,User defined order"
).split(",")
CSV_TYPE = {"DICH": "DIC", "CONT": "CON", "IV": "IV", "IPD": "IPD"}


def _csv_stats(totals: dict[str, float]) -> dict[str, str]:
    if not totals:
        return {}
    return {
        "Effect Estimate": f_csv(totals["estimate"]),
        "CI Start": f_csv(totals["ci_lower"]),
        "CI End": f_csv(totals["ci_upper"]),
        "Q": f_csv(totals["q"]),
        "P(Q)": f_csv(totals["p_q"]),
        "I²(Q)": f_csv(float(totals["i2"])),
        "Tau²": f_csv(float(totals["tau2"])),
        "Z": f_csv(totals["z"]),
        "P(Z)": f_csv(totals["p_z"]),
        "df": str(int(totals["df"])),
    }


def _csv_study(o: Outcome, r: Row, sg: int) -> dict[str, str]:
    lo, hi = r.ci
    row = {
        "Comparison Number": str(o.comp),
        "Outcome Number": str(o.no),
        "Subgroup Number": str(sg),
        "Name": r.study.name,
        "Events 1": str(r.data.get("e1", 0)),
        "Mean 1": f_csv(r.data.get("m1", 0)),
        "SD 1": f_csv(r.data.get("s1", 0)),
        "Total 1": str(r.data["n1"]),
        "Events 2": str(r.data.get("e2", 0)),
        "Mean 2": f_csv(r.data.get("m2", 0)),
        "SD 2": f_csv(r.data.get("s2", 0)),
        "Total 2": str(r.data["n2"]),
        "Effect Estimate": f_csv(r.effect),
        "SE": f_csv(r.se),
        "CI Start": f_csv(lo),
        "CI End": f_csv(hi),
        "Weight": f_csv(r.weight),
        "Year of study": str(r.study.year),
        "User defined order": str(r.study.order),
    }
    return row


def write_csv(comparisons: dict[int, str], outcomes: list[Outcome]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n", restval="")
    w.writeheader()
    for cno, cname in comparisons.items():
        w.writerow(
            {"Comparison Number": cno, "Outcome Number": 0, "Subgroup Number": 0, "Name": cname}
        )
        for o in (o for o in outcomes if o.comp == cno):
            rows = o.all_rows
            s = _sums(rows)
            head = {
                "Comparison Number": str(cno),
                "Outcome Number": str(o.no),
                "Subgroup Number": "0",
                "Name": o.name,
                "Data Type": CSV_TYPE[o.kind],
                "Statistical Method": o.method["csv"],
                "Effect Measure": o.measure["csv"],
                "Analysis Model": "Random" if o.random else "Fixed",
                "Events 1": str(s.get("e1", 0)),
                "Total 1": str(s["n1"]) if rows else "0",
                "Events 2": str(s.get("e2", 0)),
                "Total 2": str(s["n2"]) if rows else "0",
                "Weight": "100" if rows else "0",
                "Qint": "0",
                "P(Qint)": "0",
                "I²(Qint)": "0",
                "df": str(max(len(rows) - 1, 0)),
                "Group Label 1": o.labels[0],
                "Group Label 2": o.labels[1],
                "Left Graph Label": "Favours experimental",
                "Right Graph Label": "Favours control",
            }
            head |= _csv_stats({} if "csv" in o.copied else o.totals)
            head |= o.copied.get("csv", {})
            if o.subgroups:
                head |= {
                    "Qint": f_csv(o.totals["q_subgroups"]),
                    "P(Qint)": f_csv(o.totals["p_subgroups"]),
                    "I²(Qint)": f_csv(o.totals["i2_subgroups"]),
                }
            w.writerow(head)
            if o.subgroups:
                for sg in o.subgroups:
                    ss = _sums(sg.rows)
                    sub = {
                        "Comparison Number": str(cno),
                        "Outcome Number": str(o.no),
                        "Subgroup Number": str(sg.no),
                        "Name": sg.name,
                        "Data Type": CSV_TYPE[o.kind],
                        "Statistical Method": o.method["csv"],
                        "Effect Measure": o.measure["csv"],
                        "Analysis Model": "Random" if o.random else "Fixed",
                        "Events 1": str(ss["e1"]),
                        "Total 1": str(ss["n1"]),
                        "Events 2": str(ss["e2"]),
                        "Total 2": str(ss["n2"]),
                        "Weight": f_csv(sum(r.weight for r in sg.rows)),
                    } | _csv_stats(sg.totals)
                    w.writerow(sub)
                    for r in sg.rows:
                        w.writerow(_csv_study(o, r, sg.no))
            else:
                for r in o.rows:
                    w.writerow(_csv_study(o, r, 0))
    return buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------
# RevMan Web data package
# --------------------------------------------------------------------------------------
PKG_SETTINGS = (
    "Analysis group,Analysis number,Analysis name,Analysis group name,Data source,"
    "Data source eligibility,Data type,Log-scale data,Outcome,Intervention grouping,"
    "Experimental intervention,Control intervention,Subgroup by,Filter criteria,"
    "Experimental group label,Control group label,Statistical method,Effect measure,"
    "Unit of effect measure,Analysis model,Subgroup estimates,Overall estimates,"
    "Test for subgroup differences,Swap event and non-event,Study CI,Estimate CI,"
    "Experimental cases,Experimental N,Control cases,Control N,Mean,CI start,CI end,"
    "Heterogeneity Tau²,Heterogeneity Chi²,Heterogeneity df,Heterogeneity P,"
    "Heterogeneity I²,Effect Z,Effect P,Subgroup Chi²,Subgroup df,Subgroup P,Subgroup I²,ID"
).split(",")
PKG_ROWS = (
    "Analysis group,Analysis number,Analysis name,Subgroup,Applicability,Study,Study year,"
    "GIV Mean,GIV SE,Experimental mean,Experimental SD,Experimental cases,Experimental N,"
    "Control mean,Control SD,Control cases,Control N,O-E,Variance,Weight,Mean,CI start,"
    "CI end,Footnotes"
).split(",")
PKG_SUBGROUPS = (
    "Analysis group,Analysis number,Subgroup,Subgroup number,Experimental cases,"
    "Experimental N,Control cases,Control N,Weight,Mean,CI start,CI end,Heterogeneity Tau²,"
    "Heterogeneity Chi²,Heterogeneity df,Heterogeneity P,Heterogeneity I²,Effect Z,Effect P,ID"
).split(",")
PKG_TYPE = {
    "DICH": "Dichotomous",
    "CONT": "Continuous",
    "IV": "Contrast level",
    "IPD": "O-E and variance",
}


def _pkg_stats(totals: dict[str, float], random: bool | None) -> dict[str, str]:
    if not totals:
        return {}
    return {
        "Mean": f_pkg(totals["estimate"]),
        "CI start": f_pkg(totals["ci_lower"]),
        "CI end": f_pkg(totals["ci_upper"]),
        "Heterogeneity Tau²": f_pkg(float(totals["tau2"])) if random else "",
        "Heterogeneity Chi²": f_pkg(totals["q"]),
        "Heterogeneity df": str(int(totals["df"])),
        "Heterogeneity P": f_pkg(totals["p_q"]),
        "Heterogeneity I²": f_pkg(float(totals["i2"])),
        "Effect Z": f_pkg(totals["z"]),
        "Effect P": f_pkg(totals["p_z"]),
    }


def _pkg_row(o: Outcome, r: Row) -> dict[str, str]:
    lo, hi = r.ci
    d = r.data
    return {
        "Analysis group": str(o.comp),
        "Analysis number": str(o.no),
        "Analysis name": o.name,
        "Subgroup": r.subgroup or "",
        "Applicability": "SUBGROUP_AND_OVERALL",
        "Study": r.study.name,
        "Study year": str(r.study.year),
        "GIV Mean": f_pkg(d["estimate"]) if o.kind == "IV" else UNUSED,
        "GIV SE": f_pkg(d["se"]) if o.kind == "IV" else UNUSED,
        "Experimental mean": repr(d["m1"]) if "m1" in d else UNUSED,
        "Experimental SD": repr(d["s1"]) if "s1" in d else UNUSED,
        "Experimental cases": str(d.get("e1", 0)),
        "Experimental N": str(d["n1"]),
        "Control mean": repr(d["m2"]) if "m2" in d else UNUSED,
        "Control SD": repr(d["s2"]) if "s2" in d else UNUSED,
        "Control cases": str(d.get("e2", 0)),
        "Control N": str(d["n2"]),
        "O-E": f_pkg(d["oe"]) if o.kind == "IPD" else UNUSED,
        "Variance": f_pkg(d["var"]) if o.kind == "IPD" else UNUSED,
        "Weight": f_pkg(r.weight),
        "Mean": f_pkg(r.effect),
        "CI start": f_pkg(lo),
        "CI end": f_pkg(hi),
        "Footnotes": "",
    }


def _pkg_csv(columns: list[str], rows: list[dict[str, str]], newline: str) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, lineterminator=newline, restval="")
    w.writeheader()
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def write_package(comparisons: dict[int, str], outcomes: list[Outcome]) -> bytes:
    settings, datarows, subgroups = [], [], []
    for i, o in enumerate(outcomes):
        rows = o.all_rows
        s = _sums(rows)
        st = {
            "Analysis group": str(o.comp),
            "Analysis number": str(o.no),
            "Analysis name": o.name,
            "Analysis group name": comparisons[o.comp],
            "Data source": "Custom input",
            "Data source eligibility": "#N/A",
            "Data type": PKG_TYPE[o.kind],
            "Log-scale data": "true" if o.ratio else "false",
            "Subgroup by": "Year of publication" if o.subgroups else "",
            "Experimental group label": o.labels[0],
            "Control group label": o.labels[1],
            "Statistical method": o.method["pkg"],
            "Effect measure": o.measure["pkg"],
            "Analysis model": "Random effect" if o.random else "Fixed effect",
            "Subgroup estimates": "true",
            "Overall estimates": "true",
            "Test for subgroup differences": "true",
            "Swap event and non-event": "false",
            "Study CI": "95%",
            "Estimate CI": "95%",
            "Experimental cases": str(s["e1"]) if rows and "e1" in s else "",
            "Experimental N": str(s["n1"]) if rows else "",
            "Control cases": str(s["e2"]) if rows and "e2" in s else "",
            "Control N": str(s["n2"]) if rows else "",
            "ID": f"analysis:{800000000000000001 + i}",
        }
        st |= _pkg_stats({} if "pkg" in o.copied else o.totals, o.random)
        st |= o.copied.get("pkg", {})
        if o.subgroups:
            st |= {
                "Subgroup Chi²": f_pkg(o.totals["q_subgroups"]),
                "Subgroup df": str(int(o.totals["df_subgroups"])),
                "Subgroup P": f_pkg(o.totals["p_subgroups"]),
                "Subgroup I²": f_pkg(o.totals["i2_subgroups"]),
            }
            for sg in o.subgroups:
                ss = _sums(sg.rows)
                subgroups.append(
                    {
                        "Analysis group": str(o.comp),
                        "Analysis number": str(o.no),
                        "Subgroup": sg.name,
                        "Subgroup number": str(sg.no),
                        "Experimental cases": str(ss["e1"]),
                        "Experimental N": str(ss["n1"]),
                        "Control cases": str(ss["e2"]),
                        "Control N": str(ss["n2"]),
                        "Weight": f_pkg(sum(r.weight for r in sg.rows)),
                        "ID": f"subgroup:{700000000000000001 + sg.no}",
                    }
                    | _pkg_stats(sg.totals, o.random)
                )
        settings.append(st)
        for sg_rows in [sg.rows for sg in o.subgroups] or [o.rows]:
            datarows += [_pkg_row(o, r) for r in sorted(sg_rows, key=lambda r: r.study.name)]

    study_info = [{"Study": st.name, "Year": str(st.year), "Data source": "PUB"} for st in STUDIES]
    rob = [
        {"Study": st.name, "Domain (judgement): Allocation concealment?": "Not applicable"}
        for st in STUDIES
    ]
    ris = "".join(f"TY  - JOUR\r\nNS  - {st.name}\r\nER  - \r\n\r\n" for st in STUDIES)
    a, s = f"{REVIEW_ID}-analysis-data/{REVIEW_ID}", f"{REVIEW_ID}-study-data/{REVIEW_ID}"
    members = {
        f"{a}-data-rows.csv": _pkg_csv(PKG_ROWS, datarows, "\n"),
        f"{a}-overall-estimates-and-settings.csv": _pkg_csv(PKG_SETTINGS, settings, "\n"),
        f"{a}-subgroup-estimates.csv": _pkg_csv(PKG_SUBGROUPS, subgroups, "\r\n"),
        f"{s}-included.ris": ("\ufeff" + ris).encode("utf-8"),
        f"{s}-risk-of-bias.csv": _pkg_csv(
            [
                "Study",
                "Domain (judgement): Allocation concealment?",
                "Domain (support): Allocation concealment?",
            ],
            rob,
            "\r\n",
        ),
        f"{s}-study-information.csv": _pkg_csv(
            [
                "Study",
                "Year",
                "Data source",
                "Char: Methods",
                "Char: Participants",
                "Char: Interventions",
                "Char: Outcomes",
                "Char: Notes",
            ],
            study_info,
            "\r\n",
        ),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def main() -> None:
    comparisons, outcomes = review()
    files = {
        "fleiss1993.rm5": write_rm5(comparisons, outcomes),
        "fleiss1993.csv": write_csv(comparisons, outcomes),
        "fleiss1993-data.zip": write_package(comparisons, outcomes),
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
        print(f"wrote {OUT / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()

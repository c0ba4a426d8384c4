"""Read Cochrane review data: RevMan 5 files, their CSV export and RevMan Web data packages.

Three formats are recognised (by content; the extension only hints):

=====================  ===============================================================
format                 what it is
=====================  ===============================================================
``"rm5"``              a RevMan 5 review (``.rm5``, XML in ISO-8859-1 or UTF-8 as
                       declared in its header)
``"revman5-csv"``      RevMan 5's *File > Export > Data and analyses* CSV (with the
                       columns Comparison/Outcome/Subgroup Number and Data Type)
``"data-package"``     a RevMan Web / Cochrane Library data package: a zip (possibly
                       nested, as downloaded) or folder of CSVs with a UTF-8 byte-order
                       mark, unused fields written as ``0.0``
=====================  ===============================================================

:func:`read_review` returns a :class:`Review`: one :class:`ReviewAnalysis` per comparison x
outcome, plus one per subgroup of an outcome with subgroups (the whole outcome keeps a
``subgroup`` column for a subgroup analysis), each with a table in bayesmeta's input columns
(``events_t, n_t, events_c, n_c``; ``mean_t, sd_t, n_t, mean_c, sd_c, n_c``; or ``estimate,
se`` with ratios on the natural scale) and the pooled result RevMan stored
(``revman_totals``). Group 1 in RevMan is the experimental arm (``_t``). What cannot be
analysed (O-E and variance data, Peto odds ratios, outcomes without studies, studies without
data) is listed in :attr:`Review.skipped` with the reason; nothing is dropped silently.

Scales. In ``.rm5`` files the ``LOG_*`` attributes (``LOG_EFFECT_SIZE``, ``LOG_CI_START``,
...) are base-10 logarithms, ``SE`` and ``VAR`` are on the natural-log scale for ratio
measures, and ``EFFECT_SIZE``/``CI_*`` are on the natural scale. Generic inverse-variance
data are entered as ``ESTIMATE`` and ``SE``, on the natural-log scale for ratio measures
(``LOG_DATA="YES"``); the CSV export's ``Effect Estimate`` is on the natural scale, the data
package's ``GIV Mean`` on the log scale when ``Log-scale data`` is true. R meta's readers
(``read.rm5``, ``read.cdir``) use the same conventions.

Every problem raises :class:`RevManError` naming the file, the comparison, the outcome and,
where relevant, the study and the column.

Examples
--------
>>> import pathlib, tempfile
>>> xml = '''<?xml version="1.0" encoding="UTF-8"?>
... <COCHRANE_REVIEW><COVER_SHEET><TITLE>Mini review</TITLE></COVER_SHEET>
... <STUDIES_AND_REFERENCES><STUDIES><INCLUDED_STUDIES>
... <STUDY ID="STD-A" NAME="Alpha" YEAR="2001"/><STUDY ID="STD-B" NAME="Beta" YEAR="2004"/>
... </INCLUDED_STUDIES></STUDIES></STUDIES_AND_REFERENCES>
... <ANALYSES_AND_DATA><COMPARISON NO="1"><NAME>Drug vs placebo</NAME>
... <DICH_OUTCOME NO="1" EFFECT_MEASURE="RR" METHOD="MH" RANDOM="NO" SUBGROUPS="NO">
... <NAME>Response</NAME>
... <DICH_DATA STUDY_ID="STD-A" EVENTS_1="12" TOTAL_1="40" EVENTS_2="6" TOTAL_2="40"/>
... <DICH_DATA STUDY_ID="STD-B" EVENTS_1="20" TOTAL_1="60" EVENTS_2="11" TOTAL_2="58"/>
... </DICH_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>'''
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = pathlib.Path(tmp) / "mini.rm5"
...     _ = path.write_text(xml, encoding="utf-8")
...     review = read_review(path)
>>> review.title, review.format, [a.id for a in review.analyses]
('Mini review', 'rm5', ['1.1'])
>>> analysis = review["1.1"]
>>> analysis.measure, analysis.effects, analysis.method
('RR', 'fixed', 'MH')
>>> print(analysis.table.to_string(index=False))
     study  events_t  n_t  events_c  n_c  year subgroup
Alpha 2001        12   40         6   40  2001     None
 Beta 2004        20   60        11   58  2004     None
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

try:  # DataError's light home (no pandas); bayesmeta.data re-exports the same class
    from bayesmeta.errors import DataError
except ImportError:  # pragma: no cover - layout before bayesmeta.errors existed
    from bayesmeta.data import DataError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from bayesmeta.data import StudyData

__all__ = [
    "FORMATS",
    "RevManError",
    "Review",
    "ReviewAnalysis",
    "Skipped",
    "detect_format",
    "read_data_package",
    "read_review",
    "read_revman_csv",
    "read_rm5",
]

#: The formats :func:`read_review` recognises.
FORMATS = ("rm5", "revman5-csv", "data-package")

DataType = Literal["dichotomous", "continuous", "generic"]

#: Canonical bayesmeta input columns for each data type.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "dichotomous": ("study", "events_t", "n_t", "events_c", "n_c"),
    "continuous": ("study", "mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
    "generic": ("study", "estimate", "se"),
}
_EXTRA_COLUMNS = ("year", "subgroup")
_RATIO = frozenset({"OR", "RR", "HR"})
_COUNTS = frozenset({"events_t", "n_t", "events_c", "n_c"})


class RevManError(DataError):
    """A RevMan file that cannot be read; the message names the file and where in it."""


# --------------------------------------------------------------------------------------
# Public result types
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Skipped:
    """An analysis (or one study of it) that cannot be analysed, with the reason.

    Attributes
    ----------
    id : str
        The analysis id (``"2.3"``, or ``"2.1.1"`` for a subgroup).
    comparison, outcome : str
        Comparison and outcome names as RevMan shows them.
    subgroup : str or None
        Subgroup name, if the problem concerns one subgroup.
    reason : str
        Why it cannot be analysed.
    study : str or None
        The study label when a single study was left out of an analysis.
    """

    id: str
    comparison: str
    outcome: str
    subgroup: str | None
    reason: str
    study: str | None = None

    def __str__(self) -> str:
        where = f"{self.id} {self.outcome}"
        if self.subgroup:
            where += f" [{self.subgroup}]"
        if self.study:
            where += f", study {self.study!r}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, eq=False)
class ReviewAnalysis:
    """One comparison x outcome (x subgroup) of a review, ready for bayesmeta.

    Attributes
    ----------
    id : str
        Stable short id: ``"<comparison>.<outcome>"``, plus ``".<subgroup>"`` for a subgroup.
    comparison, outcome : str
        Names as in the review.
    subgroup : str or None
        Subgroup name for a subgroup analysis, None for the whole outcome.
    data_type : {"dichotomous", "continuous", "generic"}
        RevMan's data type (``generic``: generic inverse variance).
    measure : str
        bayesmeta's measure: ``OR``, ``RR``, ``RD``, ``MD``, ``SMD``, ``HR`` or ``GEN``.
    effects : {"fixed", "random"}
        RevMan's analysis model.
    method : str
        RevMan's statistical method: ``MH``, ``IV`` (inverse variance) or ``Peto``.
    group_labels : tuple of str
        (experimental, control) group labels; ``("Experimental", "Control")`` if none.
    favours_labels : tuple of str or None
        Forest-plot labels (left, right), e.g. ``("Favours experimental", "Favours
        control")``, when the file has them.
    table : pandas.DataFrame
        bayesmeta input columns (binary ``study, events_t, n_t, events_c, n_c``;
        continuous ``study, mean_t, sd_t, n_t, mean_c, sd_c, n_c``; generic ``study,
        estimate, se`` with ratio estimates on the natural scale and ``se`` on the log
        scale) plus the study-level covariates ``year`` (nullable integer) and
        ``subgroup`` (None when the outcome has no subgroups).
    revman_totals : dict
        The pooled result RevMan stored, as available: ``estimate``, ``ci_lower``,
        ``ci_upper`` (natural scale), ``z``, ``p_z``, ``q`` (heterogeneity chi-squared),
        ``df``, ``p_q``, ``i2`` (percent), ``tau2``, ``weight``, ``k``, ``events_t``,
        ``n_t``, ``events_c``, ``n_c`` and, for an outcome with subgroups, the test for
        subgroup differences ``q_subgroups``, ``df_subgroups``, ``p_subgroups``,
        ``i2_subgroups``. Fields RevMan left empty (or as zeros when not computed) are
        absent. RevMan writes ``tau2 = 0`` for fixed-effect analyses.
    revman_studies : pandas.DataFrame
        RevMan's per-study results: ``study, estimate, ci_lower, ci_upper, se, weight``
        (natural scale, ``se`` on the analysis scale; NaN where not stored).
    notes : tuple of str
        Anything done to the data on the way (e.g. events swapped with non-events).
    source : str
        The file read.
    """

    id: str
    comparison: str
    outcome: str
    subgroup: str | None
    data_type: DataType
    measure: str
    effects: Literal["fixed", "random"]
    method: str
    group_labels: tuple[str, str]
    favours_labels: tuple[str, str] | None
    table: pd.DataFrame
    revman_totals: dict[str, float]
    revman_studies: pd.DataFrame
    notes: tuple[str, ...] = ()
    source: str = ""

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.table)

    @property
    def title(self) -> str:
        """``"<id> <outcome>"`` with the subgroup, for printing."""
        text = f"{self.id} {self.outcome}"
        return f"{text} [{self.subgroup}]" if self.subgroup else text

    def study_table(self) -> pd.DataFrame:
        """Return the table without the covariate columns (``year``, ``subgroup``)."""
        return self.table.loc[:, list(_COLUMNS[self.data_type])].copy()

    def to_study_data(self) -> StudyData:
        """Validate the study table with :func:`bayesmeta.study_data`.

        Raises
        ------
        RevManError
            If bayesmeta rejects the data; the message names the file, the analysis, the
            study and the column.
        """
        from bayesmeta.data import study_data

        source = f"{self.source} [{self.id}]" if self.source else self.id
        try:
            return study_data(self.study_table(), self.measure, source=source)
        except DataError as exc:
            raise RevManError(f"{self.source}: analysis {self.title}: {exc}") from None

    def __repr__(self) -> str:
        return (
            f"ReviewAnalysis(id={self.id!r}, outcome={self.outcome!r}, "
            f"subgroup={self.subgroup!r}, measure={self.measure!r}, effects={self.effects!r}, "
            f"method={self.method!r}, k={self.k})"
        )


@dataclass(frozen=True, eq=False)
class Review:
    """The analysable data of a Cochrane review.

    Attributes
    ----------
    title : str
        Review title (``.rm5``) or the file name (CSV export, data package).
    source : str
        The path read.
    format : {"rm5", "revman5-csv", "data-package"}
        The format detected.
    analyses : list of ReviewAnalysis
        In review order; a whole outcome precedes its subgroups.
    skipped : list of Skipped
        What cannot be analysed, with reasons.
    """

    title: str
    source: str
    format: str
    analyses: list[ReviewAnalysis]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Ids of the analyses."""
        return [a.id for a in self.analyses]

    def __getitem__(self, id: str) -> ReviewAnalysis:
        for analysis in self.analyses:
            if analysis.id == id:
                return analysis
        skipped = [s for s in self.skipped if s.id == id and s.study is None]
        if skipped:
            raise KeyError(f"analysis {id!r} was skipped: {skipped[0].reason}")
        raise KeyError(f"no analysis {id!r}; available: {', '.join(self.ids)}")

    def __iter__(self) -> Iterator[ReviewAnalysis]:
        return iter(self.analyses)

    def __len__(self) -> int:
        return len(self.analyses)

    def summary(self) -> pd.DataFrame:
        """One row per analysis: id, names, data type, measure, model, method, k."""
        import pandas as pd

        rows = [
            {
                "id": a.id,
                "comparison": a.comparison,
                "outcome": a.outcome,
                "subgroup": a.subgroup,
                "data_type": a.data_type,
                "measure": a.measure,
                "effects": a.effects,
                "method": a.method,
                "k": a.k,
            }
            for a in self.analyses
        ]
        cols = ["id", "comparison", "outcome", "subgroup", "data_type", "measure"]
        return pd.DataFrame(rows, columns=[*cols, "effects", "method", "k"])

    def __repr__(self) -> str:
        return (
            f"Review(title={self.title!r}, format={self.format!r}, "
            f"analyses={len(self.analyses)}, skipped={len(self.skipped)})"
        )


# --------------------------------------------------------------------------------------
# Format-neutral intermediate representation
# --------------------------------------------------------------------------------------
@dataclass
class _Where:
    """Location in a file, for error messages."""

    path: str
    comparison: str | None = None
    outcome: str | None = None
    subgroup: str | None = None
    study: str | None = None

    def at(self, **kw: str | None) -> _Where:
        return _Where(**{**self.__dict__, **kw})

    def error(self, message: str) -> RevManError:
        parts = [p for p in (self.comparison, self.outcome, self.subgroup) if p]
        if self.study:
            parts.append(f"study {self.study!r}")
        return RevManError(f"{self.path}: {', '.join([*parts, message])}")


@dataclass
class _Row:
    label: str
    year: int | None
    values: dict[str, float | int | None]  # canonical names; giv_entered/giv_display/se
    display: dict[str, float | None]  # RevMan's per-study results
    where: _Where
    subgroup: str | None = None
    in_overall: bool = True
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> the file's name


@dataclass
class _Subgroup:
    no: int
    name: str
    rows: list[_Row]
    totals: dict[str, float]


@dataclass
class _Outcome:
    comp_no: int
    comp_name: str
    no: int
    name: str
    kind: str  # DICH, CONT, IV, IPD, OTHER or the unrecognised text
    measure_raw: str
    method_raw: str
    random: bool | None
    log_data: bool | None
    swap: bool
    group_labels: tuple[str, str]
    favours_labels: tuple[str, str] | None
    totals: dict[str, float]
    where: _Where
    rows: list[_Row] = field(default_factory=list)
    subgroups: list[_Subgroup] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Small parsers
# --------------------------------------------------------------------------------------
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_MISSING = {"", "NA", "N/A", "#N/A", "NAN", "-"}


def _num(text: str | None, where: _Where, what: str) -> float | None:
    """Parse a number; empty/NA/NaN -> None; anything else non-numeric is an error."""
    if text is None:
        return None
    t = text.strip()
    if t.upper() in _MISSING:
        return None
    if _THOUSANDS.fullmatch(t):
        t = t.replace(",", "")
    try:
        value = float(t)
    except ValueError:
        raise where.error(f"{what} is not a number ({text!r})") from None
    return None if math.isnan(value) else value


def _as_count(value: float | None) -> float | int | None:
    if value is not None and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _year(text: str | None) -> int | None:
    match = re.search(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)", text or "")
    return int(match.group(1)) if match else None


def _label(name: str, year: int | None) -> str:
    name = " ".join(name.split())
    if year is None or re.search(rf"(?<!\d){year}(?!\d)", name):
        return name
    return f"{name} {year}"


def _bool(text: str | None) -> bool | None:
    t = (text or "").strip().lower()
    if t in ("yes", "true", "y", "1"):
        return True
    if t in ("no", "false", "n", "0"):
        return False
    return None


def _decode_xml_name(text: str) -> str:
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def _decode_text(data: bytes) -> str:
    """CSV text: UTF-8 (with or without BOM), else Windows-1252 (older RevMan 5 on Windows)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def _norm(name: str) -> str:
    """Normalise a column name: lower case, superscript 2 -> 2, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.replace("\ufeff", "").replace("²", "2").lower())


_MEASURES = {
    "or": "OR",
    "oddsratio": "OR",
    "oddsrationonevent": "OR",
    "rr": "RR",
    "riskratio": "RR",
    "relativerisk": "RR",
    "rd": "RD",
    "riskdifference": "RD",
    "md": "MD",
    "meandifference": "MD",
    "wmd": "MD",
    "weightedmeandifference": "MD",
    "smd": "SMD",
    "stdmeandifference": "SMD",
    "standardizedmeandifference": "SMD",
    "standardisedmeandifference": "SMD",
    "hr": "HR",
    "hazardratio": "HR",
    "petoor": "PETO_OR",
    "petooddsratio": "PETO_OR",
}
_METHODS = {
    "mh": "MH",
    "mantelhaenszel": "MH",
    "iv": "IV",
    "inverse": "IV",
    "inversevariance": "IV",
    "peto": "Peto",
    "expoevar": "O-E",
}


def _measure(raw: str) -> str | None:
    return _MEASURES.get(_norm(raw))


def _method(raw: str) -> str | None:
    return _METHODS.get(_norm(raw))


_TOTAL_KEYS = (
    "estimate",
    "ci_lower",
    "ci_upper",
    "z",
    "p_z",
    "q",
    "df",
    "p_q",
    "i2",
    "tau2",
    "weight",
    "k",
    "events_t",
    "n_t",
    "events_c",
    "n_c",
)
_SUBGROUP_TEST_KEYS = ("q_subgroups", "df_subgroups", "p_subgroups", "i2_subgroups")
_STAT_KEYS = frozenset({"estimate", "ci_lower", "ci_upper", "z", "p_z", "q", "p_q", "i2", "tau2"})


def _totals(get: Callable[[str], str | None], names: dict[str, str], where: _Where) -> dict:
    """Read pooled results; ``names`` maps canonical keys to the file's field names."""
    out: dict[str, float] = {}
    for key, name in names.items():
        value = _num(get(name), where.at(study=None), f"pooled-result field {name!r}")
        if value is not None and math.isfinite(value):
            out[key] = (
                _as_count(value) if key in _COUNTS or key in ("df", "k", "df_subgroups") else value
            )
    return out


# --------------------------------------------------------------------------------------
# RevMan 5 (.rm5)
# --------------------------------------------------------------------------------------
_RM5_KINDS = ("DICH", "CONT", "IV", "IPD", "OTHER")
_RM5_TOTALS = {
    "estimate": "EFFECT_SIZE",
    "ci_lower": "CI_START",
    "ci_upper": "CI_END",
    "z": "Z",
    "p_z": "P_Z",
    "q": "CHI2",
    "df": "DF",
    "p_q": "P_CHI2",
    "i2": "I2",
    "tau2": "TAU2",
    "weight": "WEIGHT",
    "k": "STUDIES",
    "events_t": "EVENTS_1",
    "n_t": "TOTAL_1",
    "events_c": "EVENTS_2",
    "n_c": "TOTAL_2",
}
# in an outcome with subgroups, Q/P_Q/I2_Q hold the test for subgroup differences
_RM5_SUBGROUP_TEST = {"q_subgroups": "Q", "p_subgroups": "P_Q", "i2_subgroups": "I2_Q"}
_RM5_DATA = {
    "DICH": {"events_t": "EVENTS_1", "n_t": "TOTAL_1", "events_c": "EVENTS_2", "n_c": "TOTAL_2"},
    "CONT": {
        "mean_t": "MEAN_1",
        "sd_t": "SD_1",
        "n_t": "TOTAL_1",
        "mean_c": "MEAN_2",
        "sd_c": "SD_2",
        "n_c": "TOTAL_2",
    },
    "IV": {"giv_entered": "ESTIMATE", "giv_display": "EFFECT_SIZE", "se": "SE"},
    "IPD": {"oe": "O_E", "var": "VAR"},
}


def _rm5_natural(attrs: dict[str, str], name: str, where: _Where) -> float | None:
    """Read a natural-scale value, falling back on its LOG_ twin (base-10 logarithm)."""
    value = _num(attrs.get(name), where, f"attribute {name}")
    if value is None and f"LOG_{name}" in attrs:
        logged = _num(attrs.get(f"LOG_{name}"), where, f"attribute LOG_{name}")
        value = 10.0**logged if logged is not None else None
    return value if value is None or math.isfinite(value) else None


def _parse_xml(path: str, data: bytes) -> ET.Element:
    """Parse XML, naming the comparison and outcome being read if the file is broken."""
    open_cmp: list[dict[str, str]] = []  # comparisons and outcomes not yet closed
    open_out: list[dict[str, str]] = []
    stack: list[ET.Element] = []
    root: ET.Element | None = None
    try:
        for event, elem in ET.iterparse(io.BytesIO(data), events=("start", "end")):
            if event == "start":
                root = elem if root is None else root
                stack.append(elem)
                if elem.tag == "COMPARISON":
                    open_cmp.append({"no": elem.get("NO", "?"), "name": ""})
                elif elem.tag.endswith("_OUTCOME"):
                    cno = open_cmp[-1]["no"] if open_cmp else "?"
                    open_out.append({"no": f"{cno}.{elem.get('NO', '?')}", "name": ""})
                continue
            stack.pop()
            if elem.tag == "NAME" and stack:
                parent = stack[-1].tag
                target = open_cmp if parent == "COMPARISON" else open_out
                if (parent == "COMPARISON" or parent.endswith("_OUTCOME")) and target:
                    target[-1]["name"] = " ".join("".join(elem.itertext()).split())
            elif elem.tag == "COMPARISON" and open_cmp:
                open_cmp.pop()
            elif elem.tag.endswith("_OUTCOME") and open_out:
                open_out.pop()
    except ET.ParseError as exc:
        line, col = getattr(exc, "position", ("?", "?"))
        where = _Where(path)
        if open_cmp:
            where.comparison = f"comparison {open_cmp[-1]['no']} {open_cmp[-1]['name']!r}"
        if open_out:
            where.outcome = f"outcome {open_out[-1]['no']} {open_out[-1]['name']!r}"
        at_end = isinstance(line, int) and line >= data.rstrip().count(b"\n") + 1
        kind = "truncated" if at_end or "no element found" in str(exc) else "malformed"
        inside = "" if open_cmp else " (outside the analyses)"
        raise where.error(
            f"{kind} XML at line {line}, column {col}{inside}: {exc}; "
            "is the file complete and its encoding declaration right?"
        ) from None
    assert root is not None  # iterparse raises on an empty document
    return root


def read_rm5(path: str | os.PathLike[str]) -> Review:
    """Read a RevMan 5 review (``.rm5``).

    Parameters
    ----------
    path : str or path-like
        The ``.rm5`` file (XML; ISO-8859-1 or UTF-8 as declared in its header).

    Returns
    -------
    Review

    Raises
    ------
    RevManError
        For malformed or truncated XML, a data row with an unknown ``STUDY_ID`` or a
        non-numeric attribute; the message names the file, comparison, outcome and study.
    """
    path = Path(path)
    src = str(path)
    data = _read_bytes(path)
    if not data.strip():
        raise RevManError(f"{src}: empty file")
    root = _parse_xml(src, data)
    if root.tag != "COCHRANE_REVIEW":
        raise RevManError(
            f"{src}: not a RevMan 5 review (root element <{root.tag}>, expected <COCHRANE_REVIEW>)"
        )
    title_el = root.find("COVER_SHEET/TITLE")
    title = " ".join("".join(title_el.itertext()).split()) if title_el is not None else ""
    studies: dict[str, tuple[str, int | None]] = {}
    for st in root.iter("STUDY"):
        sid = st.get("ID")
        if sid:
            studies[sid] = (st.get("NAME") or _decode_xml_name(sid), _year(st.get("YEAR")))
    labels = _unique_labels(studies)
    outcomes: list[_Outcome] = []
    data_el = root.find("ANALYSES_AND_DATA")
    for cmp in data_el.findall("COMPARISON") if data_el is not None else []:
        cno = int(_num(cmp.get("NO"), _Where(src), "comparison attribute NO") or 0)
        cname = _child_text(cmp, "NAME")
        cwhere = _Where(src, comparison=f"comparison {cno} {cname!r}")
        for el in cmp:
            if not el.tag.endswith("_OUTCOME"):
                continue
            outcomes.append(_rm5_outcome(el, cno, cname, cwhere, labels, studies))
    return _build(src, "rm5", title or path.stem, outcomes)


def _child_text(el: ET.Element, tag: str) -> str:
    child = el.find(tag)
    return " ".join("".join(child.itertext()).split()) if child is not None else ""


def _unique_labels(studies: dict[str, tuple[str, int | None]]) -> dict[str, str]:
    labels = {sid: _label(name, year) for sid, (name, year) in studies.items()}
    counts: dict[str, int] = {}
    for lab in labels.values():
        counts[lab] = counts.get(lab, 0) + 1
    return {
        sid: lab if counts[lab] == 1 else f"{lab} [{_decode_xml_name(sid)}]"
        for sid, lab in labels.items()
    }


def _rm5_outcome(
    el: ET.Element,
    cno: int,
    cname: str,
    cwhere: _Where,
    labels: dict[str, str],
    studies: dict[str, tuple[str, int | None]],
) -> _Outcome:
    a = el.attrib
    kind = el.tag[: -len("_OUTCOME")]
    ono = int(_num(a.get("NO"), cwhere, f"{el.tag} attribute NO") or 0)
    name = _child_text(el, "NAME")
    where = cwhere.at(outcome=f"outcome {cno}.{ono} {name!r}")
    favours = (_child_text(el, "GRAPH_LABEL_1"), _child_text(el, "GRAPH_LABEL_2"))
    subgroup_els = el.findall(f"{kind}_SUBGROUP")
    totals = _totals(a.get, _RM5_TOTALS, where)
    for key in ("estimate", "ci_lower", "ci_upper"):  # fall back on the log10 twins
        value = _rm5_natural(a, _RM5_TOTALS[key], where)
        if value is not None:
            totals[key] = value
    if subgroup_els:
        totals |= _totals(a.get, _RM5_SUBGROUP_TEST, where)
    out = _Outcome(
        comp_no=cno,
        comp_name=cname,
        no=ono,
        name=name,
        kind=kind if kind in _RM5_KINDS else el.tag,
        measure_raw=a.get("EFFECT_MEASURE") or _child_text(el, "EFFECT_MEASURE"),
        method_raw=a.get("METHOD", ""),
        random=_bool(a.get("RANDOM")),
        log_data=_bool(a.get("LOG_DATA")),
        swap=_bool(a.get("SWAP_EVENTS")) is True,
        group_labels=(_child_text(el, "GROUP_LABEL_1"), _child_text(el, "GROUP_LABEL_2")),
        favours_labels=favours if any(favours) else None,
        totals=totals,
        where=where,
    )
    fields = _RM5_DATA.get(kind, {})

    def rows(parent: ET.Element, sg_name: str | None, sg_where: _Where) -> list[_Row]:
        result = []
        for d in parent.findall(f"{kind}_DATA"):
            sid = d.get("STUDY_ID", "")
            if sid not in labels:
                known = ", ".join(sorted(labels)) or "none"
                raise sg_where.error(
                    f"data row refers to unknown STUDY_ID {sid!r} (studies in the file: {known})"
                )
            w = sg_where.at(study=labels[sid])
            values = {
                key: _num(d.get(attr), w, f"attribute {attr}") for key, attr in fields.items()
            }
            display = {
                "estimate": _rm5_natural(d.attrib, "EFFECT_SIZE", w),
                "ci_lower": _rm5_natural(d.attrib, "CI_START", w),
                "ci_upper": _rm5_natural(d.attrib, "CI_END", w),
                "se": _num(d.get("SE"), w, "attribute SE"),
                "weight": _num(d.get("WEIGHT"), w, "attribute WEIGHT"),
            }
            if kind == "IV":
                values["giv_display"] = display["estimate"]
            columns = {key: f"attribute {attr}" for key, attr in fields.items()}
            row = _Row(labels[sid], studies[sid][1], values, display, w, sg_name, True, columns)
            result.append(row)
        return result

    if subgroup_els:
        for sg in subgroup_els:
            sno = int(_num(sg.get("NO"), where, f"{sg.tag} attribute NO") or 0)
            sname = _child_text(sg, "NAME")
            sw = where.at(subgroup=f"subgroup {cno}.{ono}.{sno} {sname!r}")
            sg_totals = _totals(sg.get, _RM5_TOTALS, sw)
            for key in ("estimate", "ci_lower", "ci_upper"):
                value = _rm5_natural(sg.attrib, _RM5_TOTALS[key], sw)
                if value is not None:
                    sg_totals[key] = value
            out.subgroups.append(_Subgroup(sno, sname, rows(sg, sname, sw), sg_totals))
    else:
        out.rows = rows(el, None, where)
    return out


# --------------------------------------------------------------------------------------
# RevMan 5 "Data and analyses" CSV export
# --------------------------------------------------------------------------------------
_CSV_TYPES = {
    "dic": "DICH",
    "dich": "DICH",
    "dichotomous": "DICH",
    "con": "CONT",
    "cont": "CONT",
    "continuous": "CONT",
    "iv": "IV",
    "giv": "IV",
    "genericinversevariance": "IV",
    "ipd": "IPD",
    "oe": "IPD",
    "oeandvariance": "IPD",
    "oth": "OTHER",
    "other": "OTHER",
    "otherdata": "OTHER",
}
_CSV_REQUIRED = ("Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type")
_CSV_TOTALS = {
    "estimate": "Effect Estimate",
    "ci_lower": "CI Start",
    "ci_upper": "CI End",
    "weight": "Weight",
    "q": "Q",
    "p_q": "P(Q)",
    "i2": "I²(Q)",
    "tau2": "Tau²",
    "z": "Z",
    "p_z": "P(Z)",
    "df": "df",
    "n_t": "Total 1",
    "n_c": "Total 2",
}
_CSV_SUBGROUP_TEST = {"q_subgroups": "Qint", "p_subgroups": "P(Qint)", "i2_subgroups": "I²(Qint)"}
_CSV_DATA = {
    "DICH": {"events_t": "Events 1", "n_t": "Total 1", "events_c": "Events 2", "n_c": "Total 2"},
    "CONT": {
        "mean_t": "Mean 1",
        "sd_t": "SD 1",
        "n_t": "Total 1",
        "mean_c": "Mean 2",
        "sd_c": "SD 2",
        "n_c": "Total 2",
    },
    "IV": {"giv_display": "Effect Estimate", "se": "SE"},
    "IPD": {"oe": "O-E", "var": "Var"},
}
_CSV_LOG = "Entered data are on log scale (Generic Inverse Variance only)"
_CSV_SWAP = "Swap event and non-event"


def read_revman_csv(path: str | os.PathLike[str]) -> Review:
    """Read RevMan 5's *Data and analyses* CSV export.

    The export must include the fields Comparison Number, Outcome Number, Subgroup Number,
    Name and Data Type, and the data fields of the outcomes' data types (events, means,
    SDs, totals; Effect Estimate and SE for generic inverse variance).

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8, or Windows-1252 as older RevMan versions wrote it).

    Returns
    -------
    Review

    Raises
    ------
    RevManError
        For missing columns, rows out of order or non-numeric cells; the message names the
        file, comparison, outcome, study and column.
    """
    path = Path(path)
    src = str(path)
    lines = list(csv.reader(io.StringIO(_decode_text(_read_bytes(path)), newline="")))
    while lines and not any(c.strip() for c in lines[-1]):
        lines.pop()
    if not lines:
        raise RevManError(f"{src}: empty file")
    header = lines[0]
    index = {_norm(h): i for i, h in enumerate(header)}
    missing = [c for c in _CSV_REQUIRED if _norm(c) not in index]
    if missing:
        raise RevManError(
            f"{src}: not a RevMan 5 'Data and analyses' export: missing column(s) "
            f"{', '.join(map(repr, missing))}; export again with these fields selected"
        )

    comps: dict[int, str] = {}
    outcomes: dict[tuple[int, int], _Outcome] = {}
    tests: dict[tuple[int, int], dict[str, float]] = {}
    for lineno, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise RevManError(
                f"{src}: line {lineno} has {len(cells)} fields but the header has {len(header)}"
                " (exports with the 'Risk of bias tables' field cannot be read; export again "
                "without it)"
            )

        def get(name: str, cells: list[str] = cells) -> str | None:
            i = index.get(_norm(name))
            return cells[i] if i is not None else None

        w = _Where(src).at(outcome=f"line {lineno}")
        cno = int(_num(get("Comparison Number"), w, "column 'Comparison Number'") or 0)
        ono = int(_num(get("Outcome Number"), w, "column 'Outcome Number'") or 0)
        sno = int(_num(get("Subgroup Number"), w, "column 'Subgroup Number'") or 0)
        name = (get("Name") or "").strip()
        dtype = (get("Data Type") or "").strip()
        if ono == 0:
            comps[cno] = name
            continue
        cname = comps.get(cno, f"Comparison {cno}")
        key = (cno, ono)
        if key not in outcomes:
            if not dtype:
                raise w.at(comparison=f"comparison {cno} {cname!r}").error(
                    f"study row {name!r} comes before the row of outcome {cno}.{ono} "
                    "(rows with 'Data Type')"
                )
            outcomes[key] = _csv_outcome(get, cno, cname, ono, name, dtype, _Where(src))
            tests[key] = _totals(get, _CSV_SUBGROUP_TEST, outcomes[key].where)
            continue
        out = outcomes[key]
        if sno > 0 and dtype and all(sg.no != sno for sg in out.subgroups):
            sw = out.where.at(subgroup=f"subgroup {cno}.{ono}.{sno} {name!r}")
            totals = _totals(get, _CSV_TOTALS, sw)
            if out.kind == "DICH":
                totals |= _totals(get, {"events_t": "Events 1", "events_c": "Events 2"}, sw)
            out.subgroups.append(_Subgroup(sno, name, [], totals))
            continue
        year = _year(get("Year of study"))
        label = _label(name, year)
        rw = out.where.at(study=label)
        fields = _CSV_DATA.get(out.kind, {})
        for column in fields.values():
            if _norm(column) not in index and out.kind != "IPD":
                raise rw.error(f"column {column!r} is missing; export again with it selected")
        values = {k: _num(get(c), rw, f"column {c!r}") for k, c in fields.items()}
        display = {
            k: _num(get(c), rw, f"column {c!r}")
            for k, c in (
                ("estimate", "Effect Estimate"),
                ("ci_lower", "CI Start"),
                ("ci_upper", "CI End"),
                ("se", "SE"),
                ("weight", "Weight"),
            )
        }
        sg = next((s for s in out.subgroups if s.no == sno), None) if sno > 0 else None
        if sno > 0 and sg is None:
            sg = _Subgroup(sno, f"Subgroup {sno}", [], {})
            out.subgroups.append(sg)
        if sg is not None:
            rw.subgroup = f"subgroup {cno}.{ono}.{sno} {sg.name!r}"
        columns = {k: f"column {c!r}" for k, c in fields.items()}
        row = _Row(label, year, values, display, rw, sg.name if sg else None, True, columns)
        (sg.rows if sg is not None else out.rows).append(row)

    for key, out in outcomes.items():
        if out.subgroups:
            out.totals |= tests[key]
    return _build(src, "revman5-csv", path.stem, list(outcomes.values()))


def _csv_outcome(
    get: Callable[[str], str | None],
    cno: int,
    cname: str,
    ono: int,
    name: str,
    dtype: str,
    base: _Where,
) -> _Outcome:
    where = base.at(
        comparison=f"comparison {cno} {cname!r}", outcome=f"outcome {cno}.{ono} {name!r}"
    )
    kind = _CSV_TYPES.get(_norm(dtype), dtype)
    totals = _totals(get, _CSV_TOTALS, where)
    if kind == "DICH":
        totals |= _totals(get, {"events_t": "Events 1", "events_c": "Events 2"}, where)
    favours = ((get("Left Graph Label") or "").strip(), (get("Right Graph Label") or "").strip())
    model = _norm(get("Analysis Model") or "")
    return _Outcome(
        comp_no=cno,
        comp_name=cname,
        no=ono,
        name=name,
        kind=kind,
        measure_raw=(get("Effect Measure") or "").strip(),
        method_raw=(get("Statistical Method") or "").strip(),
        random=True if model.startswith("random") else False if model.startswith("fixed") else None,
        log_data=_bool(get(_CSV_LOG)),
        swap=_bool(get(_CSV_SWAP)) is True,
        group_labels=((get("Group Label 1") or "").strip(), (get("Group Label 2") or "").strip()),
        favours_labels=favours if any(favours) else None,
        totals=totals,
        where=where,
    )


# --------------------------------------------------------------------------------------
# RevMan Web / Cochrane Library data package
# --------------------------------------------------------------------------------------
_PKG_FILES = {
    "settings": "overall-estimates-and-settings.csv",
    "rows": "data-rows.csv",
    "subgroups": "subgroup-estimates.csv",
    "studies": "study-information.csv",
    "dta": "parameters.csv",
}
_PKG_TYPES = {
    "dichotomous": "DICH",
    "continuous": "CONT",
    "contrastlevel": "IV",
    "genericinversevariance": "IV",
    "oeandvariance": "IPD",
    "other": "OTHER",
    "otherdata": "OTHER",
}
_PKG_TOTALS = {
    "estimate": "Mean",
    "ci_lower": "CI start",
    "ci_upper": "CI end",
    "tau2": "Heterogeneity Tau²",
    "q": "Heterogeneity Chi²",
    "df": "Heterogeneity df",
    "p_q": "Heterogeneity P",
    "i2": "Heterogeneity I²",
    "z": "Effect Z",
    "p_z": "Effect P",
    "weight": "Weight",
    "events_t": "Experimental cases",
    "n_t": "Experimental N",
    "events_c": "Control cases",
    "n_c": "Control N",
}
_PKG_SUBGROUP_TEST = {
    "q_subgroups": "Subgroup Chi²",
    "df_subgroups": "Subgroup df",
    "p_subgroups": "Subgroup P",
    "i2_subgroups": "Subgroup I²",
}
_PKG_DATA = {
    "DICH": {
        "events_t": "Experimental cases",
        "n_t": "Experimental N",
        "events_c": "Control cases",
        "n_c": "Control N",
    },
    "CONT": {
        "mean_t": "Experimental mean",
        "sd_t": "Experimental SD",
        "n_t": "Experimental N",
        "mean_c": "Control mean",
        "sd_c": "Control SD",
        "n_c": "Control N",
    },
    "IV": {"giv_entered": "GIV Mean", "se": "GIV SE"},
    "IPD": {"oe": "O-E", "var": "Variance"},
}


def _package_members(path: Path) -> tuple[dict[str, tuple[str, bytes]], str]:
    """Find the data-package CSVs in a folder or (nested) zip: kind -> (name, bytes)."""
    found: dict[str, tuple[str, bytes]] = {}

    def take(name: str, read: Callable[[], bytes]) -> None:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        for kind, suffix in _PKG_FILES.items():
            if (base == suffix or base.endswith("-" + suffix)) and kind not in found:
                found[kind] = (name, read())

    def scan_zip(zf: zipfile.ZipFile, prefix: str, depth: int) -> None:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        for n in names:
            take(prefix + n, lambda n=n: zf.read(n))
        if "settings" in found or depth >= 2:
            return
        for n in names:
            if n.lower().endswith(".zip"):
                try:
                    with zipfile.ZipFile(io.BytesIO(zf.read(n))) as inner:
                        scan_zip(inner, f"{prefix}{n}!/", depth + 1)
                except zipfile.BadZipFile:
                    continue

    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                take(str(p.relative_to(path)), p.read_bytes)
        return found, "folder"
    data = _read_bytes(path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            scan_zip(zf, "", 0)
    except zipfile.BadZipFile as exc:
        raise RevManError(f"{path}: not a readable zip file ({exc})") from None
    return found, "zip"


def _csv_dicts(path: str, member: str, data: bytes) -> tuple[list[dict[str, str]], set[str]]:
    reader = csv.reader(io.StringIO(_decode_text(data), newline=""))
    rows = [r for r in reader if any(c.strip() for c in r)]
    if not rows:
        return [], set()
    header = [_norm(h) for h in rows[0]]
    out = []
    for lineno, cells in enumerate(rows[1:], start=2):
        if len(cells) != len(header):
            raise RevManError(
                f"{path} [{member}]: line {lineno} has {len(cells)} fields but the header has "
                f"{len(header)}"
            )
        out.append(dict(zip(header, cells, strict=True)))
    return out, set(header)


def read_data_package(path: str | os.PathLike[str]) -> Review:
    """Read a RevMan Web / Cochrane Library data package (zip or unpacked folder).

    The package's ``*-overall-estimates-and-settings.csv`` and ``*-data-rows.csv`` are
    required; ``*-subgroup-estimates.csv`` and ``*-study-information.csv`` are used when
    present. A Cochrane Library download whose data sit in an inner ``*-data.zip`` is
    read too.

    Parameters
    ----------
    path : str or path-like
        The zip file or folder.

    Returns
    -------
    Review

    Raises
    ------
    RevManError
        If the data CSVs are missing, a data row refers to an unknown analysis or study,
        or a cell is not a number; the message names the file, comparison, outcome, study
        and column.
    """
    path = Path(path)
    src = str(path)
    found, container = _package_members(path)
    if "dta" in found:  # *-parameters.csv: R meta's read.cdir makes the same check
        raise RevManError(
            f"{src}: a diagnostic test accuracy review; only reviews of interventions can be read"
        )
    missing = [_PKG_FILES[k] for k in ("settings", "rows") if k not in found]
    if missing:
        raise RevManError(
            f"{src}: no RevMan data package CSVs in this {container}: missing "
            f"{' and '.join('*-' + m for m in missing)} (is this a Cochrane data package?)"
        )
    settings, _ = _csv_dicts(src, *found["settings"])
    datarows, row_cols = _csv_dicts(src, *found["rows"])
    sub_rows = _csv_dicts(src, *found["subgroups"])[0] if "subgroups" in found else []
    study_rows = _csv_dicts(src, *found["studies"])[0] if "studies" in found else []
    known_studies = {" ".join(r.get("study", "").split()) for r in study_rows}

    def member_where(kind: str) -> _Where:
        return _Where(f"{src} [{found[kind][0]}]")

    outcomes: dict[tuple[int, int], _Outcome] = {}
    tests: dict[tuple[int, int], dict[str, float]] = {}
    for s in settings:
        get = _getter(s)
        w = member_where("settings")
        cno = int(_num(get("Analysis group"), w, "column 'Analysis group'") or 0)
        ono = int(_num(get("Analysis number"), w, "column 'Analysis number'") or 0)
        cname = (get("Analysis group name") or "").strip() or f"Comparison {cno}"
        name = (get("Analysis name") or "").strip()
        w = w.at(comparison=f"comparison {cno} {cname!r}", outcome=f"outcome {cno}.{ono} {name!r}")
        kind_raw = (get("Data type") or "").strip()
        totals = _pkg_totals(get, w, _PKG_TOTALS)
        model = _norm(get("Analysis model") or "")
        outcomes[(cno, ono)] = _Outcome(
            comp_no=cno,
            comp_name=cname,
            no=ono,
            name=name,
            kind=_PKG_TYPES.get(_norm(kind_raw), kind_raw),
            measure_raw=(get("Effect measure") or "").strip(),
            method_raw=(get("Statistical method") or "").strip(),
            random=True
            if model.startswith("random")
            else False
            if model.startswith("fixed")
            else None,
            log_data=_bool(get("Log-scale data")),
            swap=_bool(get("Swap event and non-event")) is True,
            group_labels=(
                (get("Experimental group label") or "").strip(),
                (get("Control group label") or "").strip(),
            ),
            favours_labels=None,
            totals=totals,
            where=w,
        )
        tests[(cno, ono)] = _pkg_totals(get, w, _PKG_SUBGROUP_TEST)

    for s in sub_rows:
        get = _getter(s)
        w = member_where("subgroups")
        cno = int(_num(get("Analysis group"), w, "column 'Analysis group'") or 0)
        ono = int(_num(get("Analysis number"), w, "column 'Analysis number'") or 0)
        out = outcomes.get((cno, ono))
        if out is None:
            raise w.error(
                f"subgroup estimates for analysis {cno}.{ono}, which is not in the settings"
            )
        sname = (get("Subgroup") or "").strip()
        sno = int(_num(get("Subgroup number"), w, "column 'Subgroup number'") or 0)
        sno = sno or len(out.subgroups) + 1
        sw = out.where.at(subgroup=f"subgroup {cno}.{ono}.{sno} {sname!r}")
        out.subgroups.append(_Subgroup(sno, sname, [], _pkg_totals(get, sw, _PKG_TOTALS)))

    for s in datarows:
        get = _getter(s)
        w = member_where("rows")
        cno = int(_num(get("Analysis group"), w, "column 'Analysis group'") or 0)
        ono = int(_num(get("Analysis number"), w, "column 'Analysis number'") or 0)
        out = outcomes.get((cno, ono))
        if out is None:
            raise w.error(
                f"data row for analysis {cno}.{ono} ({(get('Analysis name') or '').strip()!r}),"
                " which is not in the overall-estimates-and-settings file"
            )
        name = " ".join((get("Study") or "").split())
        year = _year(get("Study year"))
        label = _label(name, year)
        rw = _Where(
            f"{src} [{found['rows'][0]}]", out.where.comparison, out.where.outcome, study=label
        )
        if known_studies and name not in known_studies:
            raise rw.error(
                f"data row refers to unknown study {name!r} (not in {found['studies'][0]})"
            )
        fields = _PKG_DATA.get(out.kind, {})
        for column in fields.values():
            if _norm(column) not in row_cols:
                raise rw.error(f"column {column!r} is missing")
        values = {k: _num(get(c), rw, f"column {c!r}") for k, c in fields.items()}
        display = {
            "estimate": _num(get("Mean"), rw, "column 'Mean'"),
            "ci_lower": _num(get("CI start"), rw, "column 'CI start'"),
            "ci_upper": _num(get("CI end"), rw, "column 'CI end'"),
            "se": values.get("se") if out.kind == "IV" else None,
            "weight": _num(get("Weight"), rw, "column 'Weight'"),
        }
        if not any(display[k] for k in ("estimate", "ci_lower", "ci_upper")):
            display = dict.fromkeys(display)  # not computed: written as zeros
        if out.kind == "IV":
            values["giv_display"] = display["estimate"]
        sname = (get("Subgroup") or "").strip() or None
        applicability = _norm(get("Applicability") or "")
        in_overall = "overall" in applicability or not applicability
        columns = {k: f"column {c!r}" for k, c in fields.items()}
        row = _Row(label, year, values, display, rw, sname, in_overall, columns)
        if sname is None:
            out.rows.append(row)
            continue
        sg = next((g for g in out.subgroups if g.name == sname), None)
        if sg is None:
            sg = _Subgroup(len(out.subgroups) + 1, sname, [], {})
            out.subgroups.append(sg)
        rw.subgroup = f"subgroup {cno}.{ono}.{sg.no} {sname!r}"
        sg.rows.append(row)

    for key, out in outcomes.items():
        out.subgroups.sort(key=lambda g: g.no)
        if any(g.rows for g in out.subgroups):
            out.totals |= tests[key]
    title = path.stem if path.is_dir() or not path.stem.endswith("-data") else path.stem[:-5]
    return _build(src, "data-package", title, list(outcomes.values()))


def _getter(row: dict[str, str]) -> Callable[[str], str | None]:
    return lambda name: row.get(_norm(name))


def _pkg_totals(get: Callable[[str], str | None], where: _Where, names: dict[str, str]) -> dict:
    totals = _totals(get, names, where)
    if "estimate" in names and not any(totals.get(k) for k in ("estimate", "ci_lower", "ci_upper")):
        # not computed (e.g. an SMD the package did not pool): RevMan Web writes zeros
        totals = {k: v for k, v in totals.items() if k not in _STAT_KEYS}
    return totals


# --------------------------------------------------------------------------------------
# Common: outcomes -> analyses
# --------------------------------------------------------------------------------------
_DATA_TYPES: dict[str, DataType] = {"DICH": "dichotomous", "CONT": "continuous", "IV": "generic"}
_REQUIRED = {
    "DICH": ("events_t", "n_t", "events_c", "n_c"),
    "CONT": ("mean_t", "sd_t", "n_t", "mean_c", "sd_c", "n_c"),
}


def _unanalysable(o: _Outcome) -> str | None:
    if o.kind == "IPD":
        return (
            "O-E and variance data (individual patient data or log-rank statistics, pooled "
            "by RevMan with the Peto method): bayesmeta needs arm-level data or an estimate "
            "with its SE"
        )
    if o.kind == "OTHER":
        return "'other data' outcome: RevMan holds text only, nothing to pool"
    if o.kind not in _DATA_TYPES:
        return f"unknown data type {o.kind!r}"
    method = _method(o.method_raw)
    measure = _measure(o.measure_raw)
    if o.kind == "DICH" and (method in ("Peto", "O-E") or measure == "PETO_OR"):
        return (
            "Peto odds ratio: bayesmeta has no Peto method, so RevMan's result cannot be "
            "reproduced (the arm-level counts could be re-analysed as an OR)"
        )
    if o.kind == "DICH" and measure not in ("OR", "RR", "RD"):
        return f"effect measure {o.measure_raw!r} is not supported for dichotomous data"
    if o.kind == "CONT" and measure not in ("MD", "SMD"):
        return f"effect measure {o.measure_raw!r} is not supported for continuous data"
    if o.kind == "IV" and measure in _RATIO | {"PETO_OR"} and o.log_data is False:
        return (
            f"generic inverse-variance {o.measure_raw!r} entered on the natural scale "
            "(not on the log scale): the scale of its SE is ambiguous"
        )
    return None


def _giv_estimate(row: _Row, measure: str, on_log: bool) -> float:
    """Return a generic inverse-variance estimate on bayesmeta's scale for ``measure``.

    Ratio measures (OR, RR, HR) are returned on the natural scale: the entered estimate is
    exponentiated when it is on the log scale; RevMan's displayed effect is natural. For
    ``GEN`` standing in for an unrecognised ratio entered on the log scale, the log value
    is returned. Entered and displayed values must agree.
    """
    entered, display = row.values.get("giv_entered"), row.values.get("giv_display")
    natural = None
    if entered is not None:
        natural = math.exp(entered) if on_log else entered
    if natural is not None and display is not None:
        if not math.isclose(natural, display, rel_tol=1e-4, abs_tol=1e-5):
            scale = "exp of the entered value" if on_log else "the entered value"
            raise row.where.error(
                f"the entered estimate ({entered!r}) and the effect RevMan shows ({display!r}) "
                f"disagree ({scale}: {natural!r})"
            )
    if natural is None:
        natural = display
    assert natural is not None
    if measure == "GEN" and on_log:
        return entered if entered is not None else math.log(natural)
    return natural


def _row_problem(kind: str, row: _Row) -> str | None:
    """Why a row holds no data (RevMan's placeholders), or None; errors for broken rows."""
    values, where = row.values, row.where
    if kind in _REQUIRED:
        if values.get("n_t") == 0 or values.get("n_c") == 0:
            return "no participants entered in one or both groups (RevMan: not estimable)"
        for key in _REQUIRED[kind]:
            if values.get(key) is None:
                raise where.error(f"{row.columns.get(key, key)} is empty ({key} is required)")
        return None
    se = values.get("se")
    if se is None or se == 0:
        if values.get("giv_entered") in (None, 0) and values.get("giv_display") in (None, 0):
            return "no estimate or SE entered (RevMan: not estimable)"
        raise where.error("the SE is missing or zero")
    return None


def _build(src: str, fmt: str, title: str, outcomes: list[_Outcome]) -> Review:
    analyses: list[ReviewAnalysis] = []
    skipped: list[Skipped] = []
    outcomes = sorted(outcomes, key=lambda o: (o.comp_no, o.no))
    for o in outcomes:
        _add_outcome(src, o, analyses, skipped)
    return Review(title=title, source=src, format=fmt, analyses=analyses, skipped=skipped)


def _add_outcome(
    src: str, o: _Outcome, analyses: list[ReviewAnalysis], skipped: list[Skipped]
) -> None:
    oid = f"{o.comp_no}.{o.no}"
    reason = _unanalysable(o)
    if reason:
        skipped.append(Skipped(oid, o.comp_name, o.name, None, reason))
        return
    data_type = _DATA_TYPES[o.kind]
    measure = _measure(o.measure_raw)
    notes: list[str] = []
    # generic inverse variance: ratios are entered on the log scale unless LOG_DATA="NO";
    # differences (MD, SMD, RD) always as they are
    on_log = bool(o.log_data) if o.log_data is not None else measure in _RATIO | {"PETO_OR"}
    on_log = on_log and measure not in ("MD", "SMD", "RD")
    if data_type == "generic":
        if measure == "PETO_OR":
            measure = "OR"
        if measure is None:
            measure = "GEN"
            scale = " (on the log scale, as entered)" if on_log else ""
            notes.append(f"effect measure {o.measure_raw!r} analysed as GEN{scale}")
    assert measure is not None
    if o.swap and data_type == "dichotomous":
        notes.append("RevMan swaps events and non-events: events_t/events_c are non-events")

    every = o.rows + [r for sg in o.subgroups for r in sg.rows]
    good: dict[int, dict[str, float | int]] = {}
    for row in every:
        problem = _row_problem(o.kind, row)
        if problem:
            skipped.append(Skipped(oid, o.comp_name, o.name, row.subgroup, problem, row.label))
            continue
        values = {k: _as_count(v) if k in _COUNTS else v for k, v in row.values.items()}
        if data_type == "generic":
            est = _giv_estimate(row, measure, on_log)
            values = {"estimate": est, "se": row.values["se"]}
        elif o.swap:
            values["events_t"] = values["n_t"] - values["events_t"]  # type: ignore[operator]
            values["events_c"] = values["n_c"] - values["events_c"]  # type: ignore[operator]
        for key, value in values.items():
            if value is not None and not math.isfinite(value):
                raise row.where.error(f"{key} is not finite ({value!r})")
        good[id(row)] = values  # type: ignore[assignment]

    def make(aid: str, subgroup: str | None, rows: list[_Row], totals: dict) -> None:
        rows = [r for r in rows if id(r) in good]
        if not rows:
            what = (
                "no studies with data"
                if subgroup is None
                else "no studies with data in this subgroup"
            )
            skipped.append(Skipped(aid, o.comp_name, o.name, subgroup, what))
            return
        analyses.append(
            ReviewAnalysis(
                id=aid,
                comparison=o.comp_name,
                outcome=o.name,
                subgroup=subgroup,
                data_type=data_type,
                measure=measure,
                effects="random" if o.random else "fixed",
                method=_method(o.method_raw) or ("MH" if o.kind == "DICH" else "IV"),
                group_labels=(o.group_labels[0] or "Experimental", o.group_labels[1] or "Control"),
                favours_labels=o.favours_labels,
                table=_table(data_type, rows, good),
                revman_totals=dict(totals),
                revman_studies=_study_results(rows),
                notes=tuple(notes),
                source=src,
            )
        )

    if not every:
        skipped.append(Skipped(oid, o.comp_name, o.name, None, "no studies"))
        return
    overall = (
        o.rows if not o.subgroups else [r for sg in o.subgroups for r in sg.rows if r.in_overall]
    )
    make(oid, None, overall, o.totals)
    for sg in o.subgroups:
        make(f"{oid}.{sg.no}", sg.name, sg.rows, sg.totals)


def _dedupe(rows: list[_Row]) -> list[str]:
    labels = [r.label for r in rows]
    seen: dict[str, int] = {}
    out = []
    for row, lab in zip(rows, labels, strict=True):
        if labels.count(lab) > 1 and row.subgroup:
            lab = f"{lab} ({row.subgroup})"
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    return out


def _table(data_type: DataType, rows: list[_Row], good: dict) -> pd.DataFrame:
    import pandas as pd

    cols = _COLUMNS[data_type]
    records = [
        {
            "study": label,
            **{c: good[id(r)][c] for c in cols[1:]},
            "year": r.year,
            "subgroup": r.subgroup,
        }
        for r, label in zip(rows, _dedupe(rows), strict=True)
    ]
    table = pd.DataFrame(records, columns=[*cols, *_EXTRA_COLUMNS])
    table["year"] = table["year"].astype("Int64")
    table["subgroup"] = table["subgroup"].astype(object)
    return table


def _study_results(rows: list[_Row]) -> pd.DataFrame:
    import pandas as pd

    cols = ("estimate", "ci_lower", "ci_upper", "se", "weight")
    records = [
        {"study": label, **{c: r.display.get(c) for c in cols}}
        for r, label in zip(rows, _dedupe(rows), strict=True)
    ]
    table = pd.DataFrame(records, columns=["study", *cols])
    return table.astype(dict.fromkeys(cols, float))


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RevManError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RevManError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise RevManError(f"{path}: cannot read ({exc})") from None


def detect_format(path: str | os.PathLike[str]) -> str:
    """Detect the format of a RevMan file or folder: one of :data:`FORMATS`.

    The content decides (XML, zip, CSV header); the extension only shapes the error
    message when the content is not recognised.

    Raises
    ------
    RevManError
        If the file is missing or is none of the formats.
    """
    path = Path(path)
    if path.is_dir():
        return "data-package"
    head = _read_bytes(path)[:4096]
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "data-package"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<") or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "rm5"
    first = _decode_text(head).splitlines()[0] if head.strip() else ""
    columns = {_norm(c) for c in next(csv.reader([first]), [])}
    if {"comparisonnumber", "outcomenumber"} <= columns:
        return "revman5-csv"
    if {"analysisgroup", "analysisnumber"} <= columns:
        raise RevManError(
            f"{path}: one CSV of a RevMan Web data package; pass the package (zip) or the "
            "folder with all its CSVs"
        )
    hint = {
        ".rm5": "a .rm5 file should be RevMan 5 XML",
        ".csv": "a RevMan 5 export needs the columns Comparison Number and Outcome Number",
        ".zip": "a data package should be a zip file",
    }.get(path.suffix.lower(), "expected a .rm5 file, a RevMan 5 CSV export or a data package")
    raise RevManError(f"{path}: not a RevMan file ({hint})")


def read_review(path: str | os.PathLike[str]) -> Review:
    r"""Read a Cochrane review in any RevMan format, detected from the content.

    Parameters
    ----------
    path : str or path-like
        A RevMan 5 review (``.rm5``), RevMan 5's *Data and analyses* CSV export, or a
        RevMan Web / Cochrane Library data package (zip, possibly with the data in an
        inner ``*-data.zip``, or the unpacked folder).

    Returns
    -------
    Review
        ``analyses`` (one per comparison x outcome, and per subgroup) and ``skipped``
        (what cannot be analysed, with reasons).

    Raises
    ------
    RevManError
        If the file cannot be read; the message names the file, comparison, outcome and,
        where relevant, study and column.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> lines = [
    ...     "Comparison Number,Outcome Number,Subgroup Number,Name,Data Type,Statistical Method,"
    ...     "Effect Measure,Analysis Model,Mean 1,SD 1,Total 1,Mean 2,SD 2,Total 2,Year of study",
    ...     "1,0,0,Exercise vs usual care,,,,,,,,,,,",
    ...     "1,1,0,Pain score,CON,IV,MD,Random,,,,,,,",
    ...     "1,1,0,Ames,,,,,4.1,1.2,30,5.0,1.4,31,2011",
    ...     "1,1,0,Boyd,,,,,3.8,1.5,45,4.4,1.3,44,2015",
    ... ]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "export.csv"
    ...     _ = path.write_text("\n".join(lines), encoding="utf-8")
    ...     review = read_review(path)
    >>> review.format, review["1.1"].measure, review["1.1"].effects
    ('revman5-csv', 'MD', 'random')
    >>> table = review["1.1"].table
    >>> print(table[["study", "mean_t", "sd_t", "n_t", "year"]].to_string(index=False))
        study  mean_t  sd_t  n_t  year
    Ames 2011     4.1   1.2   30  2011
    Boyd 2015     3.8   1.5   45  2015
    """
    fmt = detect_format(path)
    reader = {"rm5": read_rm5, "revman5-csv": read_revman_csv, "data-package": read_data_package}
    return reader[fmt](path)

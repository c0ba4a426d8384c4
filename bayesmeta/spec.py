"""AnalysisSpec: one validated, frozen description of an analysis.

Every entry point builds one: :func:`bayesmeta.fit` and :func:`bayesmeta.fit_many` from
keyword arguments, analysis files (TOML, in ``models/``) with :meth:`AnalysisSpec.from_toml`,
and the command line with :meth:`AnalysisSpec.replace` for its flags. Each option is
checked once, from the constraint table :data:`FIELDS`, and every problem is reported
together with its key path (``models/x.toml: priors.tau.sigma must be > 0``; for keyword
arguments the argument name, for the command line the flag).

An analysis file::

    [analysis]
    title = "IVIg vs placebo: ACR/EULAR TIS >= 20 response at week 16"
    description = "..."
    ci_prob = 0.95                      # credible-interval probability (equal-tailed)

    [data]
    path = "../data/ivig_tis20.csv"     # relative to this file; or dataset = "<bundled name>"
    measure = "RR"
    columns = { trial = "study" }       # optional renames (input name = canonical name)

    [model]
    effects = "random"                  # random | fixed
    likelihood = "normal"               # normal | binomial
    engine = "auto"                     # auto | exact | nuts
    control_risk = 0.3                  # optional, for the RR/RD implied by a binomial fit

    [priors]
    mu = { dist = "Normal", mu = 0, sigma = 4 }
    tau = { empirical = "turner2015", outcome = "any", comparison = "any" }
    baseline = { dist = "Normal", mu = 0, sigma = 10 }   # binomial likelihood only

    [mcid]
    values = [1.25, 1.5]                # natural scale; or registry = "<entry>"
    direction = "greater"               # greater | less
    labels = ["relative +25%", "relative +50%"]
    scale = "natural"                   # natural | analysis

    [sampling]
    draws = 2000
    tune = 1000
    chains = 4
    seed = 1
    target_accept = 0.95

    [sensitivity]
    tau = [{ dist = "HalfNormal", sigma = 1 }]   # alternative priors on tau

Examples
--------
>>> from bayesmeta.spec import AnalysisSpec
>>> s = AnalysisSpec.from_kwargs(measure="smd", tau_prior="halfnormal(0.5)", mcid=[0.2])
>>> s.measure, s.effects, s.tau_prior, s.mcid
('SMD', 'random', HalfNormal(sigma=0.5), (0.2,))
>>> s.replace(effects="fixed").tau_prior is None
True
>>> AnalysisSpec.from_kwargs(measure="SMD", ci_prob=95)
Traceback (most recent call last):
...
bayesmeta.spec.SpecError: ci_prob must be between 0 and 1 (got 95)
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayesmeta.errors import DataError

__all__ = ["FIELDS", "AnalysisSpec", "SpecError", "load_spec"]

MEASURES = ("MD", "SMD", "OR", "RR", "HR", "RD", "GEN")
RATIO_MEASURES = ("OR", "RR", "HR")


class SpecError(DataError):
    """An invalid analysis specification; lists every problem with its key path.

    Attributes
    ----------
    problems : tuple of (key, message)
        ``key`` is the field name (``tau_prior``), ``message`` the readable text.
    """

    def __init__(self, text: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(text)
        self.problems = tuple(problems)


# -- the constraint table ------------------------------------------------------------------
Check = Callable[[Any], tuple[Any, str | None]]


@dataclass(frozen=True)
class Field:
    """One option: its name, TOML key, command-line flag, default and check."""

    name: str
    toml: str | None
    flag: str | None
    default: Any
    check: Check
    help: str


def _choice(*options: str) -> Check:
    def check(v: Any) -> tuple[Any, str | None]:
        if isinstance(v, str) and v.strip().lower() in options:
            return v.strip().lower(), None
        return v, f"must be one of {', '.join(options)} (got {v!r})"

    return check


def _int(minimum: int, *, optional: bool = False) -> Check:
    def check(v: Any) -> tuple[Any, str | None]:
        if v is None and optional:
            return None, None
        import numbers

        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum:
            return v, f"must be an integer >= {minimum} (got {v!r})"
        return int(v), None

    return check


def _open_unit(v: Any) -> tuple[Any, str | None]:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
        return v, f"must be between 0 and 1 (got {v!r})"
    return float(v), None


def _optional(check: Check) -> Check:
    def inner(v: Any) -> tuple[Any, str | None]:
        return (None, None) if v is None else check(v)

    return inner


def _measure(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if isinstance(v, str) and v.strip().upper() in MEASURES:
        return v.strip().upper(), None
    return v, f"must be one of {', '.join(MEASURES)} (got {v!r})"


def _prior(support: str) -> Check:
    def check(v: Any) -> tuple[Any, str | None]:
        if v is None:
            return None, None
        from bayesmeta import priors as P

        try:
            if isinstance(v, str):
                prior = P.parse(v)
            elif isinstance(v, Mapping):
                prior = P.from_dict(dict(v))
            elif isinstance(v, P.Prior):
                prior = v
            else:
                return v, (
                    "must be a prior, a string such as 'halfnormal(0.5)' or a table such as "
                    '{ dist = "HalfNormal", sigma = 0.5 }'
                    f" (got {type(v).__name__})"
                )
        except P.PriorError as exc:
            return v, f"is invalid: {exc}"
        if support == "positive" and (prior.support != "positive" or isinstance(prior, P.Flat)):
            return v, (
                f"must be a prior on [0, inf) such as HalfNormal, HalfCauchy, LogNormal or "
                f"turner2015(...) (got {prior!r})"
            )
        if support == "real" and prior.support == "positive":
            return v, f"must allow negative values (got {prior!r})"
        return prior, None

    return check


def _priors_list(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return (), None
    if isinstance(v, str | Mapping) or not isinstance(v, Sequence):
        return v, "must be a list of priors on tau"
    out = []
    for i, item in enumerate(v):
        p, err = _prior("positive")(item)
        if err:
            return v, f"[{i}] {err}"
        out.append(p)
    return tuple(out), None


def _numbers(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return (), None
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = [v]
    try:
        items = list(v)
    except TypeError:
        return v, f"must be a list of numbers (got {v!r})"
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in items):
        try:
            import numpy as np

            items = [float(x) for x in np.asarray(items, dtype=float)]
        except (TypeError, ValueError):
            return v, f"must be a list of numbers (got {v!r})"
    if not all(math.isfinite(float(x)) for x in items):
        return v, f"must be finite numbers (got {v!r})"
    return tuple(float(x) for x in items), None


def _labels(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if isinstance(v, str) or not isinstance(v, Sequence) or not all(isinstance(x, str) for x in v):
        return v, "must be a list of strings"
    return tuple(v), None


def _text(v: Any) -> tuple[Any, str | None]:
    return (v, None) if isinstance(v, str) else (v, f"must be a string (got {v!r})")


def _columns(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if not isinstance(v, Mapping) or not all(
        isinstance(a, str) and isinstance(b, str) for a, b in v.items()
    ):
        return v, "must map input column names to canonical names, e.g. { trial = 'study' }"
    return dict(v), None


def _anything(v: Any) -> tuple[Any, str | None]:
    return v, None


def _bool(v: Any) -> tuple[Any, str | None]:
    return (v, None) if isinstance(v, bool) else (v, f"must be true or false (got {v!r})")


def _moderators(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if isinstance(v, str):
        return (v.strip(), None) if v.strip() else (v, "must not be empty")
    if isinstance(v, Sequence) and v and all(isinstance(x, str) for x in v):
        return tuple(v), None
    return v, "must be a formula such as '~ ablat + C(alloc)' or a list of covariate columns"


def _beta_prior(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if isinstance(v, Mapping) and "dist" not in v and "empirical" not in v:
        out = {}
        for name, item in v.items():
            p, err = _prior("real")(item)
            if err:
                return v, f"[{name!r}] {err}"
            out[str(name)] = p
        return out, None
    return _prior("real")(v)


def _model_probs(v: Any) -> tuple[Any, str | None]:
    """Prior model probabilities: the same rule as :func:`bayesmeta.average` applies."""
    if v is None:
        return None, None
    from bayesmeta.averaging import _prior_probs

    try:
        _prior_probs(v)
    except (ValueError, TypeError) as exc:
        return v, str(exc).removeprefix("prior_model_probs ")
    return (dict(v) if isinstance(v, Mapping) else tuple(v)), None


def _reference(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = str(int(v)) if float(v).is_integer() else str(v)
    if isinstance(v, str) and v.strip():
        return v.strip(), None
    return v, f"must name a treatment of the network, e.g. 'placebo' (got {v!r})"


def _path(v: Any) -> tuple[Any, str | None]:
    if v is None:
        return None, None
    if not isinstance(v, str | Path):
        return v, f"must be a path (got {v!r})"
    return Path(v), None


#: Every option of an analysis, once: name, TOML key, CLI flag, default, check, help.
FIELDS: tuple[Field, ...] = (
    Field("title", "analysis.title", None, "", _text, "title of the analysis"),
    Field("description", "analysis.description", None, "", _text, "what the analysis asks"),
    Field(
        "ci_prob",
        "analysis.ci_prob",
        "--ci-prob",
        0.95,
        _open_unit,
        "probability of the equal-tailed credible intervals",
    ),
    Field("data", None, None, None, _anything, "a pandas DataFrame or StudyData"),
    Field("path", "data.path", None, None, _path, "CSV of trial data (relative to the file)"),
    Field("dataset", "data.dataset", None, None, _optional(_text), "a bundled dataset"),
    Field(
        "measure",
        "data.measure",
        "--measure",
        None,
        _measure,
        "effect measure: MD, SMD, OR, RR, HR, RD or GEN",
    ),
    Field("columns", "data.columns", "--columns", None, _columns, "renames old=new"),
    Field(
        "effects",
        "model.effects",
        "--model",
        "random",
        _choice("random", "fixed"),
        "random effects, or a fixed (common) effect with tau = 0",
    ),
    Field(
        "likelihood",
        "model.likelihood",
        "--likelihood",
        "normal",
        _choice("normal", "binomial"),
        "normal-normal on effect sizes, or binomial-normal on arm-level events",
    ),
    Field(
        "engine",
        "model.engine",
        "--engine",
        "auto",
        _choice("auto", "exact", "nuts"),
        "exact numerical integration, NUTS, or the best that applies",
    ),
    Field(
        "control_risk",
        "model.control_risk",
        "--control-risk",
        None,
        _optional(_open_unit),
        "control risk for implied RR and RD (binomial likelihood)",
    ),
    Field(
        "moderators",
        "model.moderators",
        "--moderators",
        None,
        _moderators,
        "meta-regression: a formula such as '~ ablat + C(alloc)' or a list of covariate columns",
    ),
    Field(
        "subgroup",
        "model.subgroup",
        "--subgroup",
        None,
        _optional(_text),
        "subgroup analysis: the covariate column naming each study's group",
    ),
    Field(
        "separate_tau",
        "model.separate_tau",
        None,
        False,
        _bool,
        "subgroups: one tau per group (fit per group) instead of a common tau",
    ),
    Field(
        "reference",
        "network.reference",
        "--reference",
        None,
        _reference,
        "network meta-analysis: the reference treatment (every d is against it)",
    ),
    Field(
        "consistency",
        "network.consistency",
        "--consistency",
        "consistency",
        _choice("consistency", "ume", "nodesplit"),
        "network: also fit unrelated mean effects (ume) or node-splitting models",
    ),
    Field(
        "lower_better",
        "network.lower_better",
        "--lower-better",
        False,
        _bool,
        "network: lower effects are better (ranks, SUCRA, P(best))",
    ),
    Field("mu_prior", "priors.mu", "--mu-prior", None, _prior("real"), "prior on mu"),
    Field(
        "d_prior",
        "priors.d",
        "--d-prior",
        None,
        _prior("real"),
        "network: prior on each treatment effect d against the reference",
    ),
    Field("tau_prior", "priors.tau", "--tau-prior", None, _prior("positive"), "prior on tau"),
    Field(
        "beta_prior",
        "priors.beta",
        None,
        None,
        _beta_prior,
        "prior on the regression coefficients: flat (default), one prior for all, or a "
        "table per coefficient name",
    ),
    Field(
        "baseline_prior",
        "priors.baseline",
        "--baseline-prior",
        None,
        _prior("real"),
        "prior on the baseline log odds (binomial likelihood)",
    ),
    Field("draws", "sampling.draws", "--draws", 2000, _int(1), "draws per chain"),
    Field("tune", "sampling.tune", "--tune", 1000, _int(0), "tuning steps per chain (NUTS)"),
    Field("chains", "sampling.chains", "--chains", 4, _int(1), "chains"),
    Field(
        "seed",
        "sampling.seed",
        "--seed",
        None,
        _int(0, optional=True),
        "random seed (drawn and recorded when not given)",
    ),
    Field(
        "target_accept",
        "sampling.target_accept",
        None,
        0.95,
        _open_unit,
        "NUTS target acceptance",
    ),
    Field("progressbar", None, None, False, _bool, "show the sampler's progress bar"),
    Field(
        "mcid",
        "mcid.values",
        "--mcid",
        (),
        _numbers,
        "candidate MCIDs (natural scale: ratios for OR/RR/HR)",
    ),
    Field("mcid_labels", "mcid.labels", None, None, _labels, "one label per MCID"),
    Field(
        "mcid_direction",
        "mcid.direction",
        "--direction",
        "greater",
        _choice("greater", "less"),
        "benefit is an effect greater or less than the MCID",
    ),
    Field(
        "mcid_scale",
        "mcid.scale",
        None,
        "natural",
        _choice("natural", "analysis"),
        "scale of the MCID values",
    ),
    Field("mcid_source", None, None, None, _optional(_text), "where the MCIDs come from"),
    Field(
        "sensitivity",
        "sensitivity.tau",
        None,
        (),
        _priors_list,
        "alternative priors on tau for the sensitivity table",
    ),
    Field(
        "averaging",
        "averaging.enabled",
        None,
        False,
        _bool,
        "Bayesian model averaging over fixed/random effects x effect/no effect",
    ),
    Field(
        "prior_model_probs",
        "averaging.prior_model_probs",
        None,
        None,
        _model_probs,
        "prior probabilities of fixed_H0, fixed_H1, random_H0, random_H1 (equal by default)",
    ),
    Field("source", None, None, None, _path, "the analysis file this spec was read from"),
)
_BY_NAME = {f.name: f for f in FIELDS}
_BY_TOML = {f.toml: f for f in FIELDS if f.toml}
_SECTIONS = sorted({f.toml.split(".")[0] for f in FIELDS if f.toml})
#: Keyword aliases accepted by fit() (the issue's and R's names).
ALIASES = {"model": "effects", "thresholds": "mcid", "direction": "mcid_direction"}


@dataclass(frozen=True, eq=False)
class AnalysisSpec:
    """A validated, immutable description of one analysis (see the module docstring).

    Build it with :meth:`from_kwargs`, :meth:`from_toml` or :meth:`replace`; the
    constructor is not meant to be called directly.
    """

    title: str = ""
    description: str = ""
    ci_prob: float = 0.95
    data: Any = field(default=None, repr=False)
    path: Path | None = None
    dataset: str | None = None
    measure: str | None = None
    columns: dict[str, str] | None = None
    effects: str = "random"
    likelihood: str = "normal"
    engine: str = "auto"
    control_risk: float | None = None
    moderators: str | tuple[str, ...] | None = None
    subgroup: str | None = None
    separate_tau: bool = False
    reference: str | None = None
    consistency: str = "consistency"
    lower_better: bool = False
    mu_prior: Any = None
    d_prior: Any = None
    tau_prior: Any = None
    beta_prior: Any = None
    baseline_prior: Any = None
    draws: int = 2000
    tune: int = 1000
    chains: int = 4
    seed: int | None = None
    target_accept: float = 0.95
    progressbar: bool = False
    mcid: tuple[float, ...] = ()
    mcid_labels: tuple[str, ...] | None = None
    mcid_direction: str = "greater"
    mcid_scale: str = "natural"
    mcid_source: str | None = None
    sensitivity: tuple[Any, ...] = ()
    averaging: bool = False
    prior_model_probs: Any = None
    source: Path | None = None
    #: how each field was named where it came from (for messages)
    _origin: str = field(default="kwargs", repr=False)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> AnalysisSpec:
        """Build and validate from keyword arguments (the names of :func:`bayesmeta.fit`)."""
        return _build({}, kwargs, origin="kwargs")

    @classmethod
    def from_toml(cls, path: str | Path) -> AnalysisSpec:
        """Read and validate an analysis file; raises :class:`SpecError` with key paths."""
        return _from_toml(Path(path))

    def replace(self, *, origin: str = "kwargs", **overrides: Any) -> AnalysisSpec:
        """Return a copy with ``overrides`` applied and the whole spec validated again.

        Setting ``effects="fixed"`` without a ``tau_prior`` drops the prior on tau (a
        fixed effect has none); giving a ``tau_prior`` with a fixed effect is an error.
        """
        base = {f.name: getattr(self, f.name) for f in FIELDS}
        if overrides.get("effects") == "fixed" and "tau_prior" not in overrides:
            base["tau_prior"] = None
        return _build(base, overrides, origin=origin, previous=self._origin)

    # -- facts -----------------------------------------------------------------------------
    @property
    def fixed(self) -> bool:
        """True for the fixed (common) effect model."""
        return self.effects == "fixed"

    @property
    def is_network(self) -> bool:
        """True for a network meta-analysis (a reference treatment is named)."""
        return self.reference is not None

    @property
    def is_ratio(self) -> bool:
        """True when the analysis scale is the log of a ratio."""
        return self.measure in RATIO_MEASURES or self.likelihood == "binomial"

    def key(self, name: str) -> str:
        """How option ``name`` is called where this spec came from (for messages)."""
        return _display(name, self._origin)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form (priors as dicts; no data objects)."""
        out: dict[str, Any] = {}
        for f in FIELDS:
            v = getattr(self, f.name)
            if f.name == "data":
                continue
            if hasattr(v, "to_dict") and not isinstance(v, Mapping):
                v = v.to_dict()
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, tuple):
                v = [x.to_dict() if hasattr(x, "to_dict") else x for x in v]
            elif isinstance(v, Mapping):
                v = {k: (x.to_dict() if hasattr(x, "to_dict") else x) for k, x in v.items()}
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnalysisSpec:
        """Inverse of :meth:`to_dict` (used by :func:`bayesmeta.load`)."""
        return _build({}, {k: v for k, v in d.items() if k in _BY_NAME}, origin="kwargs")

    def sha256(self) -> str | None:
        """Digest of the analysis file this spec was read from, if any."""
        if self.source is None or not Path(self.source).is_file():
            return None
        return hashlib.sha256(Path(self.source).read_bytes()).hexdigest()

    def load_data(self) -> Any:
        """Read and validate the data this spec names.

        Returns a :class:`bayesmeta.StudyData`, or for a network meta-analysis a
        :class:`bayesmeta.network.NetworkData`.
        """
        from bayesmeta.data import StudyData, read_csv, study_data

        if self.is_network:
            return self._network_data()
        if self.measure is None:
            raise SpecError(f"{self.key('measure')} is required (MD, SMD, OR, RR, HR, RD, GEN)")
        if self.data is not None:
            if isinstance(self.data, StudyData) and self.data.measure == self.measure:
                return self.data
            return study_data(self.data, self.measure, columns=self.columns)
        if self.dataset is not None:
            from bayesmeta import datasets

            return study_data(
                datasets.load(self.dataset),
                self.measure,
                columns=self.columns,
                source=f"dataset:{self.dataset}",
            )
        if self.path is not None:
            return read_csv(self.path, self.measure, columns=self.columns)
        raise SpecError("no data: give data (a DataFrame), a CSV path or a bundled dataset")

    def _network_data(self) -> Any:
        from bayesmeta.network.data import NetworkData, network_data

        if isinstance(self.data, NetworkData):
            if self.measure not in (None, self.data.measure):
                raise SpecError(
                    f"{self.key('measure')} is {self.measure} but the network data are "
                    f"{self.data.measure}"
                )
            return self.data
        source: Any = self.data if self.data is not None else self.path
        if self.dataset is not None:
            from bayesmeta import datasets

            source = datasets.load(self.dataset)
        if source is None:
            raise SpecError("no data: give data (a DataFrame), a CSV path or a bundled dataset")
        return network_data(source, self.measure, columns=self.columns)


def _display(name: str, origin: str) -> str:
    f = _BY_NAME.get(name)
    if f is None:
        return name
    if origin == "toml" and f.toml:
        return f.toml
    if origin == "cli" and f.flag:
        return f.flag
    return name


def _build(
    base: dict[str, Any], overrides: Mapping[str, Any], *, origin: str, previous: str = "kwargs"
) -> AnalysisSpec:
    """Merge, check every field from the table, apply the cross-field rules, collect errors."""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {f.name: f.default for f in FIELDS}
    values.update(base)
    given: dict[str, str] = {name: previous for name in base}
    typed: dict[str, str] = {}  # field -> the alias the caller used (fit(model=...))
    for key, v in overrides.items():
        name = ALIASES.get(key, key)
        if name != key:
            typed[name] = key
        if name not in _BY_NAME or name == "_origin":
            valid = ", ".join(sorted(_BY_NAME))
            problems.append((key, f"is not a known option (known: {valid})"))
            continue
        values[name] = v
        given[name] = origin
    for f in FIELDS:
        v, err = f.check(values[f.name])
        if err:
            problems.append((f.name, err))
        else:
            values[f.name] = v
    problems += _cross_checks(values, given)
    if problems:
        origin_of = {n: given.get(n, origin) for n, _ in problems}
        raise _error(problems, origin_of, typed)
    values["_origin"] = origin if origin != "cli" else previous
    return AnalysisSpec(**values)


def _cross_checks(v: dict[str, Any], given: dict[str, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    sources = [k for k in ("data", "path", "dataset") if v[k] is not None]
    if len(sources) > 1:
        out.append((sources[1], f"conflicts with {sources[0]}: give one source of data"))
    if v["effects"] == "fixed" and v["tau_prior"] is not None:
        out.append(
            (
                "tau_prior",
                "is given but the model is a fixed (common) effect, which has no "
                "heterogeneity (tau = 0); use random effects to give a prior on tau",
            )
        )
    if v["moderators"] is not None and v["subgroup"] is not None:
        out.append(("subgroup", "conflicts with moderators: give one (a subgroup is a moderator)"))
    if v["separate_tau"] and v["subgroup"] is None:
        out.append(("separate_tau", "applies to a subgroup analysis only"))
    if v["beta_prior"] is not None and v["moderators"] is None and v["subgroup"] is None:
        out.append(("beta_prior", "applies to meta-regression and subgroups only (use mu_prior)"))
    if v["baseline_prior"] is not None and v["likelihood"] != "binomial":
        out.append(("baseline_prior", "applies to the binomial likelihood only"))
    if v["likelihood"] == "binomial" and v["measure"] not in (None, "OR"):
        out.append(
            (
                "likelihood",
                "binomial is on the log odds ratio scale: use measure OR (RR and RD are "
                f"reported as implied effects), got measure {v['measure']}",
            )
        )
    mcid = v["mcid"]
    if isinstance(mcid, tuple) and mcid:
        ratio = v["measure"] in RATIO_MEASURES or v["likelihood"] == "binomial"
        if ratio and v["mcid_scale"] == "natural" and any(x <= 0 for x in mcid):
            out.append(
                (
                    "mcid",
                    f"are ratios for {v['measure']} on the natural scale and must be > 0 "
                    "(use the analysis scale for log ratios)",
                )
            )
    labels = v["mcid_labels"]
    if isinstance(labels, tuple) and isinstance(mcid, tuple) and len(labels) != len(mcid):
        out.append(("mcid_labels", "must be a list with one label per value"))
    out += _network_checks(v)
    return out


#: Options of a pairwise analysis that a network meta-analysis does not take, and why.
_PAIRWISE_ONLY = {
    "mu_prior": "is for pairwise analyses: a network's treatment effects take d_prior",
    "moderators": "(network meta-regression) is not available",
    "subgroup": "is not available for a network meta-analysis",
    "beta_prior": "is not available for a network meta-analysis",
    "control_risk": "applies to pairwise binomial analyses only",
    "mcid_labels": "apply to pairwise analyses only",
    "sensitivity": "(prior sensitivity) is available for pairwise analyses only",
    "averaging": "(model averaging) is available for pairwise analyses only",
    "prior_model_probs": "(model averaging) is available for pairwise analyses only",
}
#: Options of a network meta-analysis: they need a reference treatment.
_NETWORK_ONLY = ("d_prior", "consistency", "lower_better")


def _network_checks(v: dict[str, Any]) -> list[tuple[str, str]]:
    """Check that network options come with a reference, and pairwise options without."""
    defaults = {f.name: f.default for f in FIELDS}
    if v["reference"] is None:
        return [
            (name, "applies to network meta-analysis only: name the reference treatment")
            for name in _NETWORK_ONLY
            if v[name] != defaults[name]
        ]
    out = [
        (name, why)
        for name, why in _PAIRWISE_ONLY.items()
        if v[name] is not None and v[name] != defaults[name]
    ]
    if v["measure"] == "RD":
        out.append(("measure", "RD is not available for a network (use OR, RR, MD, SMD, GEN)"))
    return out


def _error(
    problems: list[tuple[str, str]],
    origin_of: Mapping[str, str],
    typed: Mapping[str, str] | None = None,
) -> SpecError:
    typed = typed or {}
    lines = [
        f"{typed.get(n) or _display(n, origin_of.get(n, 'kwargs'))} {msg}" for n, msg in problems
    ]
    return SpecError("\n".join(lines), problems)


# -- analysis files ----------------------------------------------------------------------------
def _from_toml(path: Path) -> AnalysisSpec:
    where = str(path)
    if path.is_dir():
        raise SpecError(f"{where}: is a directory, not an analysis file (.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML ({exc})") from None
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for section, table in raw.items():
        if section not in _SECTIONS:
            problems.append(f"{section} is not a known section (known: {', '.join(_SECTIONS)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"{section} must be a table")
            continue
        for key, value in table.items():
            dotted = f"{section}.{key}"
            if section == "analysis" and key == "question":
                dotted = "analysis.description"
            if section == "mcid" and key == "registry":
                continue
            f = _BY_TOML.get(dotted)
            if f is None:
                known = sorted(k.split(".", 1)[1] for k in _BY_TOML if k.startswith(section + "."))
                extra = ["registry"] if section == "mcid" else []
                problems.append(
                    f"{dotted} is not a known key (known: {', '.join(sorted(known + extra))})"
                )
                continue
            kwargs[f.name] = value
    mcid = raw.get("mcid") if isinstance(raw.get("mcid"), dict) else {}
    if "registry" in mcid:
        if "values" in mcid:
            problems.append("mcid needs either values or registry, not both")
        else:
            from bayesmeta import mcid as registry

            try:
                entry = registry.get(mcid["registry"])
            except KeyError as exc:
                problems.append(f"mcid.registry {exc.args[0]}")
            else:
                kwargs["mcid"] = list(entry.thresholds)
                if not isinstance(raw.get("network"), dict):  # labels: pairwise tables only
                    kwargs.setdefault("mcid_labels", list(entry.labels))
                kwargs.setdefault("mcid_direction", entry.direction)
                kwargs["mcid_source"] = f"{entry.name}: {entry.source}"
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    if isinstance(kwargs.get("path"), str):
        p = (path.parent / kwargs["path"]).resolve()
        if not p.is_file():
            what = "a directory" if p.is_dir() else "a missing file"
            problems.append(f"data.path points to {what} ({p})")
        kwargs["path"] = p
    if "dataset" in kwargs and isinstance(kwargs["dataset"], str):
        from bayesmeta import datasets

        if kwargs["dataset"] not in datasets.names():
            problems.append(
                f"data.dataset {kwargs['dataset']!r} is not a bundled dataset "
                f"(known: {', '.join(datasets.names())})"
            )
    if not data.get("path") and not data.get("dataset"):
        problems.append("data needs path (a CSV relative to the analysis file) or dataset")
    if "measure" not in data and not isinstance(raw.get("network"), dict):
        problems.append("data.measure is required (MD, SMD, OR, RR, HR, RD or GEN)")
    if isinstance(raw.get("averaging"), dict):
        kwargs.setdefault("averaging", True)  # the section itself asks for averaging
    kwargs.setdefault("title", path.stem)
    kwargs["source"] = path
    try:
        spec = _build({}, kwargs, origin="toml")
    except SpecError as exc:
        problems += [f"{_display(n, 'toml')} {m}" for n, m in exc.problems]
        spec = None
    if problems:
        # unique, in order
        seen: list[str] = []
        for p_ in problems:
            if p_ not in seen:
                seen.append(p_)
        raise SpecError("\n".join(f"{where}: {p_}" for p_ in seen), [("", p_) for p_ in seen])
    assert spec is not None
    return spec


def load_spec(path: str | Path) -> AnalysisSpec:
    """Read and validate an analysis file (same as :meth:`AnalysisSpec.from_toml`)."""
    return AnalysisSpec.from_toml(path)


def field_names() -> list[str]:
    """Names of every option (for documentation and the CLI)."""
    return [f.name for f in FIELDS]


def _copy(spec: AnalysisSpec, **changes: Any) -> AnalysisSpec:
    """Return a copy with already-validated values changed (internal: resolved defaults)."""
    return dataclasses.replace(spec, **changes)

"""NetworkSpec: one validated, frozen description of a network meta-analysis.

Built from keyword arguments (:func:`bayesmeta.network.fit_network`), from the ``[network]``
table of an analysis file, and with :meth:`NetworkSpec.replace` for command-line flags; one
constraint table (:data:`FIELDS`, with the checks of :mod:`bayesmeta.spec`) and one
validator collect every problem with its key path.

Analysis file::

    [network]
    data = "parkinsons.csv"          # relative to this file; or dataset = "parkinsons_tsd2"
    measure = "MD"
    reference = "placebo"
    model = "random"                 # random | fixed
    likelihood = "normal"            # normal | binomial
    consistency = "nodesplit"        # consistency | ume | nodesplit
    lower_better = true

    [network.priors]
    d = "normal(0, 100)"
    tau = "uniform(0, 5)"

    [network.mcid]
    values = [-0.5]
    direction = "less"

Examples
--------
>>> s = NetworkSpec.from_kwargs(reference="placebo", tau_prior="halfnormal(0.5)")
>>> s.model, s.tau_prior
('random', HalfNormal(sigma=0.5))
>>> NetworkSpec.from_kwargs(reference="placebo", model="fixed", tau_prior="halfnormal(1)")
Traceback (most recent call last):
...
bayesmeta.spec.SpecError: tau_prior is given but the model is a fixed effect (tau = 0)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from bayesmeta.spec import (
    Field,
    SpecError,
    _bool,
    _choice,
    _int,
    _numbers,
    _open_unit,
    _optional,
    _prior,
    _text,
)

__all__ = ["FIELDS", "NetworkSpec", "load_network_spec"]


def _measure(v: Any) -> tuple[Any, str | None]:
    from bayesmeta.network.data import CONTRAST_MEASURES

    if v is None:
        return None, None
    if isinstance(v, str) and v.strip().upper() in CONTRAST_MEASURES:
        return v.strip().upper(), None
    return v, f"must be one of {', '.join(CONTRAST_MEASURES)} (got {v!r})"


def _reference(v: Any) -> tuple[Any, str | None]:
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = str(int(v)) if float(v).is_integer() else str(v)
    if isinstance(v, str) and v.strip():
        return v.strip(), None
    return v, "must name a treatment of the network (e.g. 'placebo')"


def _source(v: Any) -> tuple[Any, str | None]:
    if v is None or isinstance(v, str | Path):
        return (None if v is None else str(v)), None
    return v, f"must be a path (got {type(v).__name__})"


#: The constraint table: name, TOML key (under [network]), CLI flag, default, check, help.
FIELDS: tuple[Field, ...] = (
    Field("data", "data", None, None, _source, "CSV file (relative to the analysis file)"),
    Field("dataset", "dataset", None, None, _optional(_text), "bundled dataset name"),
    Field("measure", "measure", "--measure", None, _measure, "effect measure"),
    Field("reference", "reference", "--reference", None, _reference, "reference treatment"),
    Field("model", "model", "--model", "random", _choice("random", "fixed"), "effects model"),
    Field(
        "likelihood",
        "likelihood",
        "--likelihood",
        "normal",
        _choice("normal", "binomial"),
        "normal on contrasts (exact) or binomial on arms (NUTS; exact when pairwise)",
    ),
    Field(
        "consistency",
        "consistency",
        "--consistency",
        "consistency",
        _choice("consistency", "ume", "nodesplit"),
        "also fit unrelated mean effects or node-splitting models",
    ),
    Field("engine", "engine", "--engine", "auto", _choice("auto", "exact", "nuts"), "engine"),
    Field("d_prior", "priors.d", "--d-prior", None, _prior("real"), "prior on each d"),
    Field("tau_prior", "priors.tau", "--tau-prior", None, _prior("positive"), "prior on tau"),
    Field(
        "baseline_prior",
        "priors.baseline",
        "--baseline-prior",
        None,
        _prior("real"),
        "prior on the study baselines (binomial)",
    ),
    Field("lower_better", "lower_better", "--lower-better", False, _bool, "ranking direction"),
    Field("mcid", "mcid.values", "--mcid", (), _numbers, "MCIDs (natural scale for ratios)"),
    Field(
        "mcid_direction",
        "mcid.direction",
        "--direction",
        "greater",
        _choice("greater", "less"),
        "benefit is an effect greater or less than the MCID",
    ),
    Field("ci_prob", "ci_prob", None, 0.95, _open_unit, "interval probability"),
    Field("seed", "sampling.seed", "--seed", None, _int(0, optional=True), "random seed"),
    Field("draws", "sampling.draws", "--draws", 1000, _int(1), "draws per chain"),
    Field("tune", "sampling.tune", "--tune", 1000, _int(0), "tuning steps per chain"),
    Field("chains", "sampling.chains", "--chains", 4, _int(1), "chains"),
    Field("target_accept", "sampling.target_accept", None, 0.9, _open_unit, "NUTS target"),
    Field("title", "title", None, None, _optional(_text), "title for the report"),
)
_BY_NAME = {f.name: f for f in FIELDS}
_BY_TOML = {f.toml: f for f in FIELDS if f.toml}
ALIASES = {"thresholds": "mcid", "direction": "mcid_direction"}


@dataclass(frozen=True)
class NetworkSpec:
    """A validated network analysis (see the module docstring); build with the classmethods."""

    data: str | None = None
    dataset: str | None = None
    measure: str | None = None
    reference: str | None = None
    model: str = "random"
    likelihood: str = "normal"
    consistency: str = "consistency"
    engine: str = "auto"
    d_prior: Any = None
    tau_prior: Any = None
    baseline_prior: Any = None
    lower_better: bool = False
    mcid: tuple[float, ...] = ()
    mcid_direction: str = "greater"
    ci_prob: float = 0.95
    seed: int | None = None
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    title: str | None = None

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> NetworkSpec:
        """Build and validate from keyword arguments (the names of :data:`FIELDS`)."""
        return _build({}, kwargs, origin="kwargs")

    @classmethod
    def from_cli(cls, **flags: Any) -> NetworkSpec:
        """Build from command-line values; errors name the flags (``--tau-prior``)."""
        return _build({}, flags, origin="cli")

    def replace(self, **overrides: Any) -> NetworkSpec:
        """Return a new spec with ``overrides`` (validated again; CLI flags use this)."""
        base = {f.name: getattr(self, f.name) for f in fields(self)}
        if overrides.get("model") == "fixed" and "tau_prior" not in overrides:
            base["tau_prior"] = None
        return _build(base, overrides, origin="cli")

    @classmethod
    def from_toml(cls, path: str | Path) -> NetworkSpec:
        """Read the ``[network]`` table of an analysis file."""
        return load_network_spec(path)


def _build(base: dict[str, Any], overrides: Mapping[str, Any], *, origin: str) -> NetworkSpec:
    problems: list[tuple[str, str]] = []
    values = {f.name: f.default for f in FIELDS}
    values.update(base)
    for key, v in overrides.items():
        name = ALIASES.get(key, key)
        if name not in _BY_NAME:
            problems.append((key, f"is not a known option (known: {', '.join(_BY_NAME)})"))
            continue
        values[name] = v
    for f in FIELDS:
        v, err = f.check(values[f.name])
        if err:
            problems.append((f.name, err))
        else:
            values[f.name] = v
    if values["reference"] is None and not any(k == "reference" for k, _ in problems):
        problems.append(("reference", "is required: name the reference treatment"))
    if values["model"] == "fixed" and values["tau_prior"] is not None:
        problems.append(("tau_prior", "is given but the model is a fixed effect (tau = 0)"))
    if values["baseline_prior"] is not None and values["likelihood"] != "binomial":
        problems.append(("baseline_prior", "applies to the binomial likelihood only"))
    if values["likelihood"] == "binomial":
        # engine="exact" is checked against the data when fitting (pairwise networks only)
        if values["measure"] not in (None, "OR"):
            problems.append(("likelihood", "binomial is on the log odds ratio scale (OR)"))
    if values["data"] is not None and values["dataset"] is not None:
        problems.append(("dataset", "conflicts with data: give one source of data"))
    if problems:
        shown = [(_key(n, origin), m) for n, m in problems]
        raise SpecError("\n".join(f"{k} {m}" for k, m in shown), shown)
    return NetworkSpec(**values)


def _key(name: str, origin: str) -> str:
    f = _BY_NAME.get(name)
    if f is None:
        return name
    if origin == "toml" and f.toml:
        return f"network.{f.toml}"
    if origin == "cli" and f.flag:
        return f.flag
    return name


def load_network_spec(path: str | Path) -> NetworkSpec:
    """Read and validate the ``[network]`` table of a TOML analysis file.

    Raises
    ------
    SpecError
        For a missing or unreadable file, a missing ``[network]`` table, unknown keys or
        invalid values (every problem, with its key path).
    """
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"{path} is a directory, not an analysis file")
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    table = doc.get("network")
    if not isinstance(table, dict):
        raise SpecError(f"{path}: no [network] table")
    flat: dict[str, Any] = {}
    problems = []

    def walk(prefix: str, d: Mapping[str, Any]) -> None:
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(f"{key}.", v)
            elif key in _BY_TOML:
                flat[_BY_TOML[key].name] = v
            else:
                problems.append((f"network.{key}", "is not a known key"))

    walk("", table)
    if problems:
        raise SpecError(f"{path}: " + "; ".join(f"{k} {m}" for k, m in problems), problems)
    if isinstance(flat.get("data"), str):
        flat["data"] = str((path.parent / flat["data"]).resolve())
    try:
        return _build({}, flat, origin="toml")
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}", exc.problems) from None

"""Declarative analysis files (TOML) in ``models/``.

Example::

    [analysis]
    title = "IVIg vs placebo: ACR/EULAR TIS >= 20 response at week 16"

    [data]
    path = "../data/ivig_tis20.csv"     # relative to this file; or dataset = "<bundled name>"
    measure = "RR"
    columns = { trial = "study" }       # optional renames

    [model]
    effects = "random"                  # random | fixed
    likelihood = "normal"               # normal | binomial
    engine = "auto"                     # auto | exact | nuts

    [priors]
    mu = { dist = "Normal", mu = 0, sigma = 4 }
    tau = { empirical = "turner2015", outcome = "any", comparison = "any" }

    [mcid]
    values = [1.25, 1.5]                # natural scale; or registry = "<entry>" (see
    direction = "greater"               # `bayesmeta mcid list`)
    labels = ["relative +25%", "relative +50%"]

    [sampling]
    draws = 2000
    tune = 1000
    chains = 4
    seed = 1

    [sensitivity]                       # optional: alternative priors on tau
    tau = [{ dist = "HalfNormal", sigma = 1 }]

The whole file is checked before any fitting; every problem is reported with its key path
(``models/x.toml: priors.tau.sigma must be > 0``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayesmeta import priors as P
from bayesmeta.data import DataError, StudyData, read_csv, study_data

__all__ = ["Spec", "SpecError", "load_spec"]

_SECTIONS = {
    "analysis": {"title", "description", "question"},
    "data": {"path", "dataset", "measure", "columns"},
    "model": {"effects", "likelihood", "engine", "control_risk"},
    "priors": {"mu", "tau", "baseline"},
    "mcid": {"values", "direction", "scale", "labels", "registry"},
    "sampling": {"draws", "tune", "chains", "seed", "target_accept"},
    "sensitivity": {"tau"},
}


class SpecError(DataError):
    """An invalid analysis file; the message lists every problem with its key path."""


@dataclass
class Spec:
    """A validated analysis specification."""

    path: Path
    title: str
    data_path: Path | None
    dataset: str | None
    measure: str
    columns: dict[str, str] | None
    effects: str = "random"
    likelihood: str = "normal"
    engine: str = "auto"
    control_risk: float | None = None
    mu_prior: P.Prior | None = None
    tau_prior: P.Prior | None = None
    baseline_prior: P.Prior | None = None
    mcid: list[float] = field(default_factory=list)
    mcid_labels: list[str] | None = None
    mcid_source: str | None = None
    direction: str = "greater"
    scale: str = "natural"
    sampling: dict[str, Any] = field(default_factory=dict)
    sensitivity: list[P.Prior] = field(default_factory=list)
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def load_data(self) -> StudyData:
        """Read and validate the data the spec points to."""
        if self.dataset is not None:
            from bayesmeta import datasets

            return study_data(
                datasets.load(self.dataset),
                self.measure,
                columns=self.columns,
                source=f"dataset:{self.dataset}",
            )
        assert self.data_path is not None
        return read_csv(self.data_path, self.measure, columns=self.columns)

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`bayesmeta.fit`."""
        kw: dict[str, Any] = {
            "model": self.effects,
            "likelihood": self.likelihood,
            "engine": self.engine,
            "mu_prior": self.mu_prior,
            "tau_prior": self.tau_prior,
            **self.sampling,
        }
        if self.baseline_prior is not None:
            kw["baseline_prior"] = self.baseline_prior
        if self.control_risk is not None:
            kw["control_risk"] = self.control_risk
        return kw


class _Problems:
    def __init__(self, where: str) -> None:
        self.where, self.items = where, []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.where}: {key} {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError("\n".join(self.items) if len(self.items) > 1 else self.items[0])


def _prior(value: Any, key: str, problems: _Problems) -> P.Prior | None:
    if isinstance(value, str):
        try:
            return P.parse(value)
        except P.PriorError as exc:
            problems.add(key, f"is invalid: {exc}")
            return None
    if not isinstance(value, dict):
        problems.add(key, 'must be a table such as { dist = "HalfNormal", sigma = 0.5 }')
        return None
    try:
        return P.from_dict(value)
    except P.PriorError as exc:
        msg = str(exc)
        # name the parameter in the key path when the message starts with "Dist: name must"
        head, _, rest = msg.partition(": ")
        param = rest.split(" ", 1)[0] if rest else ""
        if param in value and rest.startswith(param):
            problems.add(f"{key}.{param}", rest[len(param) + 1 :])
        else:
            problems.add(key, f"is invalid: {msg}")
        return None


def load_spec(path: str | Path) -> Spec:
    """Read and validate an analysis file.

    Raises
    ------
    SpecError
        Listing every problem with its key path (``file: key.path message``).
    """
    path = Path(path)
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{where}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{where}: not valid TOML ({exc})") from None
    pr = _Problems(where)
    for section, value in raw.items():
        if section not in _SECTIONS:
            pr.add(section, f"is not a known section (known: {', '.join(_SECTIONS)})")
        elif not isinstance(value, dict):
            pr.add(section, "must be a table")
        else:
            for key in value:
                if key not in _SECTIONS[section]:
                    pr.add(
                        f"{section}.{key}",
                        f"is not a known key (known: {', '.join(sorted(_SECTIONS[section]))})",
                    )
    data = raw.get("data", {}) if isinstance(raw.get("data"), dict) else {}
    model = raw.get("model", {}) if isinstance(raw.get("model"), dict) else {}
    pri = raw.get("priors", {}) if isinstance(raw.get("priors"), dict) else {}
    mcid = raw.get("mcid", {}) if isinstance(raw.get("mcid"), dict) else {}
    samp = raw.get("sampling", {}) if isinstance(raw.get("sampling"), dict) else {}
    sens = raw.get("sensitivity", {}) if isinstance(raw.get("sensitivity"), dict) else {}
    ana = raw.get("analysis", {}) if isinstance(raw.get("analysis"), dict) else {}

    # [data]
    data_path = dataset = None
    if "path" in data and "dataset" in data:
        pr.add("data", "needs either path or dataset, not both")
    elif "path" in data:
        if not isinstance(data["path"], str):
            pr.add("data.path", "must be a string")
        else:
            data_path = (path.parent / data["path"]).resolve()
            if not data_path.is_file():
                pr.add("data.path", f"points to a missing file ({data_path})")
    elif "dataset" in data:
        from bayesmeta import datasets

        if data["dataset"] not in datasets.names():
            pr.add(
                "data.dataset",
                f"{data['dataset']!r} is not a bundled dataset "
                f"(known: {', '.join(datasets.names())})",
            )
        dataset = data["dataset"]
    else:
        pr.add("data", "needs path (a CSV relative to the spec) or dataset")
    measure = data.get("measure")
    if not isinstance(measure, str):
        pr.add("data.measure", "is required (MD, SMD, OR, RR, HR, RD or GEN)")
        measure = ""
    columns = data.get("columns")
    if columns is not None and not (
        isinstance(columns, dict) and all(isinstance(v, str) for v in columns.values())
    ):
        pr.add("data.columns", "must map input column names to canonical names")

    # [model]
    def choice(section: dict[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
        value = section.get(key, default)
        if value not in options:
            pr.add(f"model.{key}", f"must be one of {', '.join(options)} (got {value!r})")
            return default
        return value

    effects = choice(model, "effects", ("random", "fixed"), "random")
    likelihood = choice(model, "likelihood", ("normal", "binomial"), "normal")
    engine = choice(model, "engine", ("auto", "exact", "nuts"), "auto")
    control_risk = model.get("control_risk")
    if control_risk is not None and not (
        isinstance(control_risk, int | float) and 0 < control_risk < 1
    ):
        pr.add("model.control_risk", "must be between 0 and 1")

    # [priors]
    mu_p = _prior(pri["mu"], "priors.mu", pr) if "mu" in pri else None
    tau_p = _prior(pri["tau"], "priors.tau", pr) if "tau" in pri else None
    base_p = _prior(pri["baseline"], "priors.baseline", pr) if "baseline" in pri else None
    if tau_p is not None and tau_p.support != "positive":
        pr.add("priors.tau", f"must be a prior on [0, inf) (got {tau_p!r})")
    if effects == "fixed" and "tau" in pri:
        pr.add("priors.tau", "is given but model.effects is 'fixed' (tau = 0)")

    # [mcid]
    values: list[float] = []
    labels = mcid.get("labels")
    source = None
    direction = mcid.get("direction", "greater")
    scale = mcid.get("scale", "natural")
    if "registry" in mcid:
        from bayesmeta import mcid as registry

        try:
            entry = registry.get(mcid["registry"])
            values, labels = list(entry.thresholds), labels or list(entry.labels)
            direction = mcid.get("direction", entry.direction)
            source = f"{entry.name}: {entry.source}"
        except KeyError as exc:
            pr.add("mcid.registry", str(exc.args[0]))
        if "values" in mcid:
            pr.add("mcid", "needs either values or registry, not both")
    elif "values" in mcid:
        v = mcid["values"]
        if not (
            isinstance(v, list)
            and v
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            pr.add("mcid.values", "must be a non-empty list of numbers")
        else:
            values = [float(x) for x in v]
    if direction not in ("greater", "less"):
        pr.add("mcid.direction", f"must be greater or less (got {direction!r})")
    if scale not in ("natural", "analysis"):
        pr.add("mcid.scale", f"must be natural or analysis (got {scale!r})")
    if (
        values
        and scale == "natural"
        and measure.upper() in ("OR", "RR", "HR")
        and any(x <= 0 for x in values)
    ):
        pr.add(
            "mcid.values", f"are ratios for {measure.upper()} on the natural scale and must be > 0"
        )
    if labels is not None and (not isinstance(labels, list) or len(labels) != len(values)):
        pr.add("mcid.labels", "must be a list with one label per value")

    # [sampling]
    sampling: dict[str, Any] = {}
    for key, minimum in (("draws", 1), ("tune", 0), ("chains", 1), ("seed", 0)):
        if key in samp:
            v = samp[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                pr.add(f"sampling.{key}", f"must be an integer >= {minimum} (got {v!r})")
            else:
                sampling[key] = v
    if "target_accept" in samp:
        v = samp["target_accept"]
        if not (isinstance(v, float) and 0 < v < 1):
            pr.add("sampling.target_accept", "must be between 0 and 1")
        else:
            sampling["target_accept"] = v

    # [sensitivity]
    sensitivity: list[P.Prior] = []
    if "tau" in sens:
        if not isinstance(sens["tau"], list):
            pr.add("sensitivity.tau", "must be a list of priors")
        else:
            for i, item in enumerate(sens["tau"]):
                p = _prior(item, f"sensitivity.tau[{i}]", pr)
                if p is not None:
                    sensitivity.append(p)
    pr.raise_if_any()
    return Spec(
        path=path,
        title=str(ana.get("title", path.stem)),
        data_path=data_path,
        dataset=dataset,
        measure=measure,
        columns=columns,
        effects=effects,
        likelihood=likelihood,
        engine=engine,
        control_risk=control_risk,
        mu_prior=mu_p,
        tau_prior=tau_p,
        baseline_prior=base_p,
        mcid=values,
        mcid_labels=labels,
        mcid_source=source,
        direction=direction,
        scale=scale,
        sampling=sampling,
        sensitivity=sensitivity,
        description=str(ana.get("description", ana.get("question", ""))),
        raw=raw,
    )

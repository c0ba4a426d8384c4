"""Engines: each turns a resolved :class:`~bayesmeta.spec.AnalysisSpec` and its data into a
:class:`~bayesmeta.engines.base.Posterior` and :class:`~bayesmeta.diagnostics.Diagnostics`.

One module per engine, each with ``DESCRIPTION``, ``applies(spec, data) -> reason | None``
and ``fit(spec, data)``. This package is the only place that knows which engines exist:
:func:`choose` picks one for ``engine="auto"`` (the first deterministic engine that
applies), :func:`run` fits, :func:`evidence` computes marginal likelihoods for Bayes factors
whatever engine produced the posterior, and :func:`posterior_from_datatree` reloads a saved
posterior without refitting.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["choose", "describe", "evidence", "posterior_from_datatree", "run"]

#: Engines in order of preference for ``engine="auto"``.
ORDER = ("exact", "nuts")


def _module(name: str) -> Any:
    return importlib.import_module(f"bayesmeta.engines.{name}")


def choose(spec: Any, data: Any) -> str:
    """The engine that fits ``spec``: the requested one, or the first that applies.

    Raises
    ------
    SpecError
        When the requested engine does not apply (the message says why).
    """
    from bayesmeta.spec import SpecError

    if spec.engine != "auto":
        reason = _module(spec.engine).applies(spec, data)
        if reason:
            raise SpecError(
                f"{spec.key('engine')} {spec.engine!r} does not apply: {reason}",
                [("engine", reason)],
            )
        return spec.engine
    for name in ORDER:
        if _module(name).applies(spec, data) is None:
            return name
    raise SpecError("no engine can fit this model")  # pragma: no cover - nuts fits all


def describe(name: str) -> str:
    """Readable name of an engine (``exact numerical integration``)."""
    return _module(name).DESCRIPTION


def run(spec: Any, data: Any) -> tuple[Any, Any]:
    """Fit a resolved spec (``spec.engine`` names a concrete engine)."""
    return _module(spec.engine).fit(spec, data)


def evidence(spec: Any, data: Any, *, tau_zero: bool = False, mu_zero: bool = False) -> Any:
    """Log marginal likelihood of ``spec`` (or of its tau = 0 or mu = 0 sub-model).

    Uses the first deterministic engine that applies to the model, whichever engine
    fitted the posterior. Returns the engine's posterior (with ``log_evidence`` and
    ``log_norm``).

    Raises
    ------
    NotImplementedError
        When no deterministic engine applies to this model.
    """
    changes: dict[str, Any] = {"engine": "auto"}
    if tau_zero:
        changes.update(effects="fixed", tau_prior=None)
    for name in ORDER:
        mod = _module(name)
        if "log_evidence" not in getattr(mod, "CAPABILITIES", frozenset()):
            continue
        if mod.applies(spec, data) is None:
            return mod.evidence(spec, data, tau_zero=tau_zero, mu_zero=mu_zero)
    raise NotImplementedError(
        "no deterministic engine computes the marginal likelihood of this model"
    )


def posterior_from_datatree(dt: Any) -> Any:
    """Rebuild a saved posterior (see ``Posterior.to_datatree``) without refitting."""
    kind = dt.attrs.get("bayesmeta_posterior", "draws")
    for name in ORDER:
        mod = _module(name)
        cls = getattr(mod, "POSTERIOR_KINDS", {}).get(kind)
        if cls is not None:
            return cls.from_datatree(dt)
    raise ValueError(f"unknown saved posterior kind {kind!r}")

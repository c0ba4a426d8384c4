"""Engines: each turns a resolved spec and its data into a Posterior and Diagnostics.

See :class:`~bayesmeta.engines.base.Posterior` for the protocol.

One module per engine, each with ``DESCRIPTION``, ``CAPABILITIES``,
``applies(spec, data) -> reason | None``, ``fit(spec, data)``, ``evidence(...)``, ``owns(dt)``
and ``load_posterior(dt)``: ``exact`` (the linear model with one variance component),
``grid`` (2-D integration for any prior on mu and the binomial-normal likelihood) and
``nuts``. This package is the only place that knows which engines exist: users ask for
``exact``, ``nuts`` or ``auto`` and :func:`module_for` picks the first module of that kind
that applies, :func:`run` fits, :func:`evidence` computes marginal likelihoods for Bayes factors
whatever engine produced the posterior, and :func:`posterior_from_datatree` reloads a saved
posterior without refitting.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["choose", "describe", "evidence", "module_for", "posterior_from_datatree", "run"]

#: Engine modules in order of preference for ``engine="auto"``.
ORDER = ("exact", "grid", "nuts")
#: What each user-level choice (``engine=...``) may use, in order of preference.
CHOICES = {"auto": ORDER, "exact": ("exact", "grid"), "nuts": ("nuts",)}
#: The user-level name of each module (what a resolved spec records).
USER_NAME = {"exact": "exact", "grid": "exact", "nuts": "nuts"}


def _module(name: str) -> Any:
    return importlib.import_module(f"bayesmeta.engines.{name}")


def module_for(spec: Any, data: Any) -> str:
    """Return the engine module that fits ``spec`` (the first choice that applies).

    Raises
    ------
    SpecError
        When no engine of the requested kind applies (the message says why).
    """
    from bayesmeta.spec import SpecError

    reasons = []
    for name in CHOICES[spec.engine]:
        reason = _module(name).applies(spec, data)
        if reason is None:
            return name
        reasons.append(reason)
    raise SpecError(
        f"{spec.key('engine')} {spec.engine!r} does not apply: {'; '.join(reasons)}",
        [("engine", "; ".join(reasons))],
    )


def choose(spec: Any, data: Any) -> str:
    """Return the user-level engine (``exact`` or ``nuts``) that will fit ``spec``."""
    return USER_NAME[module_for(spec, data)]


def describe(spec: Any, data: Any) -> str:
    """Return the readable name of the engine that fits ``spec``."""
    return _module(module_for(spec, data)).DESCRIPTION


def run(spec: Any, data: Any) -> tuple[Any, Any]:
    """Fit a resolved spec."""
    return _module(module_for(spec, data)).fit(spec, data)


def evidence(spec: Any, data: Any, *, tau_zero: bool = False, mu_zero: bool = False) -> Any:
    """Log marginal likelihood of ``spec`` (or of its tau = 0 or mu = 0 sub-model).

    Uses the first deterministic engine that applies to the model, whichever engine
    fitted the posterior. Returns an object with ``log_evidence`` and ``log_norm`` (the
    normalising constant, valid for ratios under the same flat prior).

    Raises
    ------
    NotImplementedError
        When no deterministic engine applies to this model.
    """
    for name in ORDER:
        mod = _module(name)
        if "log_evidence" in mod.CAPABILITIES and mod.applies(spec, data) is None:
            return mod.evidence(spec, data, tau_zero=tau_zero, mu_zero=mu_zero)
    raise NotImplementedError(
        "no deterministic engine computes the marginal likelihood of this model"
    )


def posterior_from_datatree(dt: Any) -> Any:
    """Rebuild a saved posterior (see ``Posterior.to_datatree``) without refitting."""
    for name in ORDER:
        mod = _module(name)
        if mod.owns(dt):
            return mod.load_posterior(dt)
    raise ValueError("the file holds no posterior bayesmeta can read")

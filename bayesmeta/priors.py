"""Prior distributions as small value objects, with PyMC's names and parameters.

Each prior knows its scipy equivalent (densities, quantiles, plots) and builds its PyMC
variable only when asked (:meth:`Prior.to_pymc` imports PyMC on call). The empirical
heterogeneity priors of Turner et al. (2015) and Rhodes et al. (2015) are published for
``tau^2``; :func:`turner2015` and :func:`rhodes2015` return the equivalent prior on ``tau``.

Every named heterogeneity prior of R bayesmeta (``tau.prior = "uniform"``, ``"Jeffreys"``,
...) is available through :func:`rbayesmeta` (R's names, case-insensitive) or its class
(:class:`ImproperUniform`, :class:`Jeffreys`, ...). Most of them depend on the studies'
standard errors ``sei``: such a prior is *data-dependent* and must be bound to the data
with :meth:`Prior.bind` before its density can be evaluated.

Every prior has ``support`` (``"real"`` or ``"positive"``), ``bounds`` (the interval its
density lives on), ``proper`` (whether the density integrates to one) and an exact
``logpdf`` (``-inf`` outside ``bounds``; unnormalised when improper).

Examples
--------
>>> from bayesmeta import priors
>>> priors.HalfNormal(0.5)
HalfNormal(sigma=0.5)
>>> round(float(priors.HalfNormal(0.5).ppf(0.5)), 4)
0.3372
>>> p = priors.turner2015("any", "any")
>>> p.mu, p.sigma
(-1.28, 0.87)
>>> p.note
'Turner 2015, any outcome, any comparison: log(tau^2) ~ Normal(-2.56, 1.74^2)'
>>> p.intended_measure
'OR'
>>> j = priors.rbayesmeta("Jeffreys")
>>> j
Jeffreys()
>>> jb = j.bind([0.2, 0.3, 0.5])
>>> jb
Jeffreys(bound to k=3 standard errors)
>>> jb.proper, jb.bounds
(False, (0.0, inf))
>>> round(float(jb.logpdf(0.1) - jb.logpdf(0.2)), 6)
-0.284427
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from functools import cache, cached_property
from importlib import resources
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from bayesmeta._lazy import lazy

stats = lazy("scipy.stats")
integrate = lazy("scipy.integrate")
optimize = lazy("scipy.optimize")

__all__ = [
    "BASELINE",
    "DISTRIBUTIONS",
    "EMPIRICAL",
    "RBAYESMETA",
    "BergerDeely",
    "BoundPrior",
    "Conventional",
    "DataDependentPrior",
    "DuMouchel",
    "Exponential",
    "Flat",
    "HalfCauchy",
    "HalfNormal",
    "HalfStudentT",
    "ImproperUniform",
    "ImproperUniformSqrt",
    "InverseGamma",
    "Jeffreys",
    "LogNormal",
    "LogStudentT",
    "Normal",
    "OverallJeffreys",
    "Prior",
    "PriorError",
    "StudentT",
    "TruncatedNormal",
    "Uniform",
    "UniformI2",
    "UniformShrinkage",
    "categories",
    "from_dict",
    "parse",
    "rbayesmeta",
    "rhodes2015",
    "turner2015",
]

_INF = math.inf
#: Smallest normal float: a scale whose square is below it has lost its precision.
_TINY = float(np.finfo(float).tiny)
#: Fields of every prior that are not distribution parameters.
_META = ("note", "intended_measure")


class PriorError(ValueError):
    """An invalid prior specification (bad parameter, unknown name or category)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and not isinstance(
        value, bool | np.bool_
    )


@dataclass(frozen=True)
class Prior:
    """Base class: a univariate prior distribution.

    Subclasses set ``support`` (``"real"`` or ``"positive"``) and implement
    :meth:`scipy`. ``note`` says where an empirical prior comes from; it is shown in the
    repr and kept in saved results. ``intended_measure`` names the effect measure a prior
    was made for (``"OR"`` for Turner 2015, ``"SMD"`` for Rhodes 2015), so that an analysis
    can warn when it is used for another; ``None`` for generic priors.
    """

    support: ClassVar[str] = "real"
    #: True for priors defined through the studies' standard errors (see :meth:`bind`).
    data_dependent: ClassVar[bool] = False
    note: str = field(default="", kw_only=True, compare=False)
    intended_measure: str | None = field(default=None, kw_only=True, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.note, str):
            raise PriorError(f"{self.name}: note must be a string, got {self.note!r}")
        if self.intended_measure is not None and not isinstance(self.intended_measure, str):
            raise PriorError(
                f"{self.name}: intended_measure must be a string or None, "
                f"got {self.intended_measure!r}"
            )
        self._check()

    # -- validation -------------------------------------------------------------------
    def _check(self) -> None:
        pass

    def _number(self, name: str, value: Any) -> float:
        if not _is_number(value):
            raise PriorError(f"{self.name}: {name} must be a number, got {value!r}")
        return float(value)

    def _representable(self, name: str, value: float, scale: bool = True) -> None:
        # the densities use x / scale and its square: both must stay normal floats
        square = value * value
        if square == _INF:
            raise PriorError(
                f"{self.name}: {name}={value!r} is too large to be represented "
                "(its square overflows)"
            )
        if scale and square < _TINY:
            raise PriorError(
                f"{self.name}: {name}={value!r} is too small to be represented "
                "(its square underflows to 0)"
            )

    def _positive(self, **params: Any) -> None:
        for name, value in params.items():
            v = self._number(name, value)
            if not (math.isfinite(v) and v > 0):
                raise PriorError(f"{self.name}: {name} must be > 0, got {value!r}")
            self._representable(name, v)

    def _finite(self, **params: Any) -> None:
        for name, value in params.items():
            v = self._number(name, value)
            if not math.isfinite(v):
                raise PriorError(f"{self.name}: {name} must be a finite number, got {value!r}")
            self._representable(name, v, scale=False)

    # -- description ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """PyMC class name."""
        return type(self).__name__

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the distribution parameters, in positional order (no metadata).

        Examples
        --------
        >>> HalfStudentT.param_names()
        ('nu', 'sigma')
        """
        return tuple(f.name for f in fields(cls) if f.name not in _META)

    @property
    def params(self) -> dict[str, float]:
        """Parameters by PyMC name."""
        return {k: getattr(self, k) for k in self.param_names()}

    @property
    def bounds(self) -> tuple[float, float]:
        """Bounds of the support: ``(0.0, inf)`` for priors on tau, else ``(-inf, inf)``."""
        return (0.0, _INF) if self.support == "positive" else (-_INF, _INF)

    @property
    def proper(self) -> bool:
        """Whether the density integrates to one (False for improper priors)."""
        return True

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        text = f"{self.name}({args})"
        return f"{text}  # {self.note}" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        """Return a serialisable form, ``{"dist": name, **params}`` (plus metadata).

        ``note`` and ``intended_measure`` are included when set; :func:`from_dict` reads
        them back.
        """
        out: dict[str, Any] = {"dist": self.name, **{k: float(v) for k, v in self.params.items()}}
        return self._add_meta(out)

    def _add_meta(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.note:
            out["note"] = self.note
        if self.intended_measure is not None:
            out["intended_measure"] = self.intended_measure
        return out

    # -- data ---------------------------------------------------------------------------
    def bind(self, sei: ArrayLike) -> Prior:
        """Return the prior for studies with standard errors ``sei``.

        Data-dependent priors (:class:`DataDependentPrior`) return a :class:`BoundPrior`;
        every other prior returns itself, so an engine may call ``bind`` on any prior.
        """
        return self

    # -- densities --------------------------------------------------------------------
    def scipy(self) -> Any:
        """Return the frozen ``scipy.stats`` distribution with the same density."""
        raise NotImplementedError

    @cached_property
    def _frozen(self) -> Any:
        return self.scipy()

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density at ``x`` (``-inf`` outside :attr:`bounds`)."""
        return np.asarray(self._frozen.logpdf(x), dtype=float)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Cumulative distribution function."""
        return np.asarray(self._frozen.cdf(x), dtype=float)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function."""
        return np.asarray(self._frozen.ppf(q), dtype=float)

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator) -> NDArray[np.float64]:
        """Random draws."""
        return np.asarray(self._frozen.rvs(size=size, random_state=rng), dtype=float)

    # -- PyMC -------------------------------------------------------------------------
    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create the PyMC random variable ``name`` in the current model (imports PyMC)."""
        import pymc as pm

        return getattr(pm, self.name)(name, **self.params, **kwargs)


@dataclass(frozen=True, repr=False)
class Normal(Prior):
    """Normal(mu, sigma).

    Examples
    --------
    >>> Normal(0, 4).bounds
    (-inf, inf)
    """

    mu: float
    sigma: float

    def _check(self) -> None:
        self._finite(mu=self.mu)
        self._positive(sigma=self.sigma)

    def scipy(self) -> Any:
        """Return ``scipy.stats.norm(mu, sigma)``."""
        return stats.norm(self.mu, self.sigma)

    # closed forms with scipy.special (scipy.stats costs a second at start-up)
    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density (closed form, checked against scipy in the tests)."""
        z = (np.asarray(x, dtype=float) - self.mu) / self.sigma
        return -0.5 * z * z - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """CDF (closed form)."""
        return special.ndtr((np.asarray(x, dtype=float) - self.mu) / self.sigma)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function (closed form)."""
        return self.mu + self.sigma * special.ndtri(np.asarray(q, dtype=float))


@dataclass(frozen=True, repr=False)
class StudentT(Prior):
    """StudentT(nu, mu, sigma): location-scale Student t with ``nu`` degrees of freedom.

    Examples
    --------
    >>> round(float(StudentT(3, 0, 1).cdf(0)), 6)
    0.5
    """

    nu: float
    mu: float
    sigma: float

    def _check(self) -> None:
        self._positive(nu=self.nu)
        self._finite(mu=self.mu)
        self._positive(sigma=self.sigma)

    def scipy(self) -> Any:
        """Return ``scipy.stats.t(nu, mu, sigma)``."""
        return stats.t(self.nu, self.mu, self.sigma)


@dataclass(frozen=True, repr=False)
class TruncatedNormal(Prior):
    """TruncatedNormal(mu, sigma, lower, upper): Normal(mu, sigma) restricted to [lower, upper].

    ``lower`` or ``upper`` may be infinite (one-sided truncation) but not both; use
    :class:`Normal` for no truncation. metaBMA's default prior for testing ``mu > 0`` is
    ``TruncatedNormal(0, 1, 0, inf)``. ``support`` stays ``"real"`` (it is a prior for
    ``mu``); :attr:`bounds` gives ``(lower, upper)``.

    Examples
    --------
    >>> p = TruncatedNormal(0, 1, 0, float("inf"))
    >>> p.bounds
    (0.0, inf)
    >>> round(float(p.cdf(1.0)), 6)
    0.682689
    >>> float(p.logpdf(-0.1))
    -inf
    """

    mu: float
    sigma: float
    lower: float
    upper: float

    def _check(self) -> None:
        self._finite(mu=self.mu)
        self._positive(sigma=self.sigma)
        for name in ("lower", "upper"):
            v = self._number(name, getattr(self, name))
            if math.isnan(v):
                raise PriorError(f"{self.name}: {name} must be a number or +-inf, got nan")
            if math.isfinite(v):
                self._representable(name, v, scale=False)
        lo, hi = float(self.lower), float(self.upper)
        if not hi > lo:
            raise PriorError(f"{self.name}: upper ({hi:g}) must be > lower ({lo:g})")
        if lo == -_INF and hi == _INF:
            raise PriorError(
                f"{self.name}: at least one of lower, upper must be finite (else use Normal)"
            )
        if hi == -_INF or lo == _INF:
            raise PriorError(f"{self.name}: the interval [{lo:g}, {hi:g}] is empty")
        if not math.isfinite(self._log_mass):
            raise PriorError(
                f"{self.name}: [{lo:g}, {hi:g}] has negligible probability under "
                f"Normal({self.mu:g}, {self.sigma:g})"
            )

    @property
    def _log_mass(self) -> float:
        a = (float(self.lower) - self.mu) / self.sigma
        b = (float(self.upper) - self.mu) / self.sigma
        if a > 0:  # upper tail: P = Phi(-a) - Phi(-b), computed on the small side
            a, b = -b, -a
        la, lb = special.log_ndtr(a), special.log_ndtr(b)
        with np.errstate(divide="ignore"):
            return float(lb + np.log1p(-np.exp(la - lb))) if lb > -_INF else -_INF

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lower, upper)``."""
        return (float(self.lower), float(self.upper))

    def scipy(self) -> Any:
        """Return ``scipy.stats.truncnorm`` with standardised bounds."""
        a = (float(self.lower) - self.mu) / self.sigma
        b = (float(self.upper) - self.mu) / self.sigma
        return stats.truncnorm(a, b, loc=self.mu, scale=self.sigma)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``pm.TruncatedNormal`` (an infinite bound is passed as ``None``)."""
        import pymc as pm

        lo, hi = self.bounds
        return pm.TruncatedNormal(
            name,
            mu=self.mu,
            sigma=self.sigma,
            lower=lo if math.isfinite(lo) else None,
            upper=hi if math.isfinite(hi) else None,
            **kwargs,
        )


@dataclass(frozen=True, repr=False)
class Flat(Prior):
    """Improper uniform prior on the real line (R bayesmeta's default for ``mu``).

    Allowed for ``mu`` only; the marginal likelihood and Bayes factors are then undefined.
    For R bayesmeta's improper uniform prior on ``tau`` see :class:`ImproperUniform`.
    """

    @property
    def proper(self) -> bool:
        """False: the density does not integrate."""
        return False

    def scipy(self) -> Any:
        """Raise: a flat prior has no normalised scipy equivalent."""
        raise PriorError("Flat() is improper: it has no scipy equivalent")

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Return zeros (unnormalised log density)."""
        return np.zeros(np.shape(x))

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``pm.Flat(name)``."""
        import pymc as pm

        return pm.Flat(name, **kwargs)


@dataclass(frozen=True, repr=False)
class HalfNormal(Prior):
    """HalfNormal(sigma) on [0, inf)."""

    support: ClassVar[str] = "positive"
    sigma: float

    def _check(self) -> None:
        self._positive(sigma=self.sigma)

    def scipy(self) -> Any:
        """Return ``scipy.stats.halfnorm(scale=sigma)``."""
        return stats.halfnorm(scale=self.sigma)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """CDF (closed form)."""
        x = np.asarray(x, dtype=float)
        return np.where(x > 0, special.erf(np.maximum(x, 0) / (self.sigma * math.sqrt(2))), 0.0)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function (closed form)."""
        return self.sigma * special.ndtri((1 + np.asarray(q, dtype=float)) / 2)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density (closed form, checked against scipy in the tests)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", over="ignore"):
            z = x / self.sigma
            return np.where(
                x >= 0, 0.5 * math.log(2 / math.pi) - math.log(self.sigma) - 0.5 * z * z, -np.inf
            )


@dataclass(frozen=True, repr=False)
class HalfCauchy(Prior):
    """HalfCauchy(beta) on [0, inf)."""

    support: ClassVar[str] = "positive"
    beta: float

    def _check(self) -> None:
        self._positive(beta=self.beta)

    def scipy(self) -> Any:
        """Return ``scipy.stats.halfcauchy(scale=beta)``."""
        return stats.halfcauchy(scale=self.beta)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """CDF (closed form)."""
        x = np.asarray(x, dtype=float)
        return np.where(x > 0, 2 / math.pi * np.arctan(np.maximum(x, 0) / self.beta), 0.0)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function (closed form; inf at q = 1)."""
        q = np.asarray(q, dtype=float)
        with np.errstate(over="ignore"):
            return np.where(q >= 1, np.inf, self.beta * np.tan(math.pi * q / 2))

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density (closed form, checked against scipy in the tests)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", over="ignore"):
            z = x / self.beta
            return np.where(x >= 0, math.log(2 / (math.pi * self.beta)) - np.log1p(z * z), -np.inf)


@dataclass(frozen=True, repr=False)
class HalfStudentT(Prior):
    """HalfStudentT(nu, sigma) on [0, inf)."""

    support: ClassVar[str] = "positive"
    nu: float
    sigma: float

    def _check(self) -> None:
        self._positive(nu=self.nu, sigma=self.sigma)

    def scipy(self) -> Any:
        """Return the law of ``|T|``, ``T ~ t(nu, 0, sigma)`` (a folded t)."""
        return _HalfT(self.nu, self.sigma)


@dataclass(frozen=True, repr=False)
class LogNormal(Prior):
    """LogNormal(mu, sigma): ``log(x) ~ Normal(mu, sigma)``."""

    support: ClassVar[str] = "positive"
    mu: float
    sigma: float

    def _check(self) -> None:
        self._finite(mu=self.mu)
        self._positive(sigma=self.sigma)
        if abs(self.mu) > 700:
            raise PriorError(f"{self.name}: exp(mu)={self.mu!r} is too large to be represented")

    def scipy(self) -> Any:
        """Return ``scipy.stats.lognorm(s=sigma, scale=exp(mu))``."""
        return stats.lognorm(s=self.sigma, scale=math.exp(self.mu))

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """CDF (closed form)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(np.where(x > 0, x, 1.0)) - self.mu) / self.sigma
        return np.where(x > 0, special.ndtr(z), 0.0)

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function (closed form)."""
        with np.errstate(over="ignore"):
            return np.exp(self.mu + self.sigma * special.ndtri(np.asarray(q, dtype=float)))

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density (closed form, checked against scipy in the tests)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lx = np.log(np.where(x > 0, x, np.nan))
            z = (lx - self.mu) / self.sigma
            out = -0.5 * z * z - lx - math.log(self.sigma) - 0.5 * math.log(2 * math.pi)
        return np.where(x > 0, out, -np.inf)


@dataclass(frozen=True, repr=False)
class LogStudentT(Prior):
    """LogStudentT(nu, mu, sigma): ``log(x) ~ StudentT(nu, mu, sigma)``.

    Not a PyMC class: :meth:`to_pymc` samples ``log_<name>`` as a StudentT and adds the
    deterministic ``name = exp(log_<name>)``.
    """

    support: ClassVar[str] = "positive"
    nu: float
    mu: float
    sigma: float

    def _check(self) -> None:
        self._finite(mu=self.mu)
        self._positive(nu=self.nu, sigma=self.sigma)

    def scipy(self) -> Any:
        """Return the distribution of ``exp(T)``, ``T ~ t(nu, mu, sigma)``."""
        return _LogT(self.nu, self.mu, self.sigma)

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``log_<name> ~ StudentT`` and ``name = exp(log_<name>)``."""
        import pymc as pm

        log_x = pm.StudentT(f"log_{name}", nu=self.nu, mu=self.mu, sigma=self.sigma)
        return pm.Deterministic(name, pm.math.exp(log_x), **kwargs)


@dataclass(frozen=True, repr=False)
class Uniform(Prior):
    """Uniform(lower, upper), a proper prior on a finite interval.

    For R bayesmeta's improper uniform prior on ``tau >= 0`` see :class:`ImproperUniform`.
    """

    lower: float
    upper: float

    def _check(self) -> None:
        self._finite(lower=self.lower, upper=self.upper)
        if not self.upper > self.lower:
            raise PriorError(f"Uniform: upper ({self.upper:g}) must be > lower ({self.lower:g})")

    @property
    def support(self) -> str:  # type: ignore[override]
        """``positive`` when the interval lies in [0, inf)."""
        return "positive" if self.lower >= 0 else "real"

    @property
    def bounds(self) -> tuple[float, float]:
        """``(lower, upper)``."""
        return (float(self.lower), float(self.upper))

    def scipy(self) -> Any:
        """Return ``scipy.stats.uniform(lower, upper - lower)``."""
        return stats.uniform(self.lower, self.upper - self.lower)


@dataclass(frozen=True, repr=False)
class Exponential(Prior):
    """Exponential(lam) with rate ``lam``."""

    support: ClassVar[str] = "positive"
    lam: float

    def _check(self) -> None:
        self._positive(lam=self.lam)  # then 1 / lam is representable too

    def scipy(self) -> Any:
        """Return ``scipy.stats.expon(scale=1/lam)``."""
        return stats.expon(scale=1 / self.lam)


@dataclass(frozen=True, repr=False)
class InverseGamma(Prior):
    """InverseGamma(alpha, beta) with shape ``alpha`` and scale ``beta`` (metaBMA's tau prior).

    Density ``beta^alpha / Gamma(alpha) x^(-alpha-1) exp(-beta/x)`` on (0, inf).

    Examples
    --------
    >>> round(float(InverseGamma(1, 0.15).ppf(0.5)), 6)
    0.216404
    """

    support: ClassVar[str] = "positive"
    alpha: float
    beta: float

    def _check(self) -> None:
        self._positive(alpha=self.alpha, beta=self.beta)

    def scipy(self) -> Any:
        """Return ``scipy.stats.invgamma(alpha, scale=beta)``."""
        return stats.invgamma(self.alpha, scale=self.beta)

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Log density; ``-inf`` at and below 0 (the density tends to 0 there)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.asarray(self._frozen.logpdf(np.where(x > 0, x, 1.0)), dtype=float)
        return np.where(x > 0, out, -np.inf)


class _Frozen:
    """Minimal frozen-distribution interface for the two laws scipy lacks."""

    def logpdf(self, x):
        return np.log(self.pdf(x))


class _HalfT(_Frozen):
    def __init__(self, nu: float, sigma: float) -> None:
        self._t = stats.t(nu, 0, sigma)

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2 * self._t.pdf(x), 0.0)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x >= 0, math.log(2) + self._t.logpdf(x), -np.inf)

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2 * self._t.cdf(x) - 1, 0.0)

    def ppf(self, q):
        return self._t.ppf(0.5 + np.asarray(q, dtype=float) / 2)

    def rvs(self, size=None, random_state=None):
        return np.abs(self._t.rvs(size=size, random_state=random_state))


class _LogT(_Frozen):
    def __init__(self, nu: float, mu: float, sigma: float) -> None:
        self._t = stats.t(nu, mu, sigma)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, np.nan))
            return np.where(x > 0, self._t.logpdf(lx) - lx, -np.inf)

    def pdf(self, x):
        return np.exp(self.logpdf(x))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x > 0, self._t.cdf(np.log(np.maximum(x, 1e-300))), 0.0)

    def ppf(self, q):
        with np.errstate(over="ignore"):
            return np.exp(self._t.ppf(q))

    def rvs(self, size=None, random_state=None):
        with np.errstate(over="ignore"):
            return np.exp(self._t.rvs(size=size, random_state=random_state))


# -- R bayesmeta's named heterogeneity priors ----------------------------------------------
def _improper(name: str, what: str) -> PriorError:
    return PriorError(f"{name} is improper: it has no {what}")


@dataclass(frozen=True, repr=False)
class _ImproperTau(Prior):
    """Base of the improper priors on tau: positive support, no normalising constant."""

    support: ClassVar[str] = "positive"

    @property
    def proper(self) -> bool:
        """False: the density does not integrate."""
        return False

    def scipy(self) -> Any:
        """Raise: an improper prior has no scipy equivalent."""
        raise _improper(repr(self), "scipy equivalent")


@dataclass(frozen=True, repr=False)
class ImproperUniform(_ImproperTau):
    """Improper uniform prior on ``tau >= 0``: ``p(tau) ∝ 1`` (R bayesmeta ``"uniform"``).

    R bayesmeta's default ``tau.prior``. Not :class:`Uniform`, which is a proper prior on a
    finite interval. ``logpdf`` is 0 on ``[0, inf)`` and ``-inf`` below.

    Examples
    --------
    >>> ImproperUniform().logpdf([-1.0, 0.0, 2.0])
    array([-inf,   0.,   0.])
    """

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Return 0 on ``[0, inf)``, ``-inf`` below (unnormalised)."""
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 0.0, np.where(np.isnan(x), np.nan, -np.inf))

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``pm.HalfFlat(name)``."""
        import pymc as pm

        return pm.HalfFlat(name, **kwargs)


@dataclass(frozen=True, repr=False)
class ImproperUniformSqrt(_ImproperTau):
    """Improper uniform prior on ``sqrt(tau)``: ``p(tau) ∝ tau^(-1/2)`` (R bayesmeta ``"sqrt"``).

    ``logpdf`` is ``-log(tau)/2`` for ``tau > 0``, ``+inf`` at 0 (the density diverges, as
    in R) and ``-inf`` below 0.

    Examples
    --------
    >>> ImproperUniformSqrt().logpdf([0.25, 4.0])
    array([ 0.69314718, -0.69314718])
    """

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Return ``-log(x)/2`` on ``[0, inf)``, ``-inf`` below (unnormalised)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = -0.5 * np.log(np.where(x >= 0, x, 1.0))
        return np.where(x >= 0, out, np.where(np.isnan(x), np.nan, -np.inf))

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``pm.HalfFlat(name)`` plus ``pm.Potential`` with ``-log(name)/2``."""
        import pymc as pm

        tau = pm.HalfFlat(name, **kwargs)
        pm.Potential(f"{name}_prior", -0.5 * pm.math.log(tau))
        return tau


class _NumpyOps:
    log = staticmethod(np.log)
    logaddexp = staticmethod(np.logaddexp)

    @staticmethod
    def col(a: Any) -> Any:
        return np.asarray(a)[..., None]

    @staticmethod
    def lse(a: Any) -> Any:
        return special.logsumexp(a, axis=-1)

    @staticmethod
    def mean(a: Any) -> Any:
        return np.mean(a, axis=-1)


def _tensor_ops() -> Any:
    import pymc as pm
    import pytensor.tensor as pt

    class _TensorOps:
        log = staticmethod(pt.log)
        logaddexp = staticmethod(pt.logaddexp)

        @staticmethod
        def col(a: Any) -> Any:
            return pt.shape_padright(a)

        @staticmethod
        def lse(a: Any) -> Any:
            return pm.math.logsumexp(a, axis=-1)

        @staticmethod
        def mean(a: Any) -> Any:
            return pt.mean(a, axis=-1)

    return _TensorOps


@dataclass(frozen=True, repr=False)
class DataDependentPrior(Prior):
    """Base class of the tau priors defined through the studies' standard errors ``sei``.

    Bind it to the data with :meth:`bind` (``Jeffreys().bind(sei)``) to get a
    :class:`BoundPrior` whose ``logpdf`` is exact (normalised when proper). The unbound
    prior has no density: ``logpdf``, ``cdf``, ``ppf``, ``rvs`` and ``to_pymc`` raise
    :class:`PriorError`.

    Subclasses give the log density kernel in terms of ``log(tau)`` and
    ``log(sei_i^2)`` (:meth:`_log_kernel`), written with the operations of ``xp`` so that
    the same formula serves numpy and PyTensor.
    """

    support: ClassVar[str] = "positive"
    data_dependent: ClassVar[bool] = True
    #: R bayesmeta's name for the prior (``tau.prior = ...``).
    r_name: ClassVar[str] = ""
    #: Whether the density integrates (R bayesmeta's ``tau.prior.proper``).
    is_proper: ClassVar[bool] = True
    #: Fewest studies the definition needs.
    min_studies: ClassVar[int] = 1

    @property
    def proper(self) -> bool:
        """Whether the bound density integrates to one (see each class)."""
        return self.is_proper

    def bind(self, sei: ArrayLike) -> BoundPrior:
        """Return this prior for studies with standard errors ``sei`` (finite, > 0).

        Raises
        ------
        PriorError
            For standard errors that are not finite and positive, or too few studies.
        """
        try:
            s = np.atleast_1d(np.asarray(sei, dtype=float))
        except (TypeError, ValueError):
            raise PriorError(f"{self.name}: sei must be numbers, got {sei!r}") from None
        return BoundPrior(
            self,
            tuple(float(v) for v in s.ravel()),
            note=self.note,
            intended_measure=self.intended_measure,
        )

    def _unbound(self, what: str) -> PriorError:
        return PriorError(
            f"{self.name}() depends on the studies' standard errors and must be bound "
            f"before {what}: use {self.name}().bind(sei)"
        )

    def scipy(self) -> Any:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("it has a distribution")

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("evaluating its density")

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("evaluating its cdf")

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("evaluating its quantiles")

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator) -> NDArray[np.float64]:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("drawing from it")

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Raise :class:`PriorError`: bind the prior first."""
        raise self._unbound("building a PyMC variable")

    # -- the definition -------------------------------------------------------------------
    def _constants(self, s2: NDArray[np.float64]) -> dict[str, float]:
        """Return the data summaries the density needs (from the squared standard errors)."""
        return {}

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        """Log density (up to a constant when ``_scipy`` is None) at ``tau = exp(log_t)``."""
        raise NotImplementedError

    def _scipy(self, c: dict[str, float]) -> Any:
        """Closed-form normalised scipy law, or None (normalised numerically if proper)."""
        return None


def _log_s2_t2(log_t: Any, log_s2: Any, xp: Any) -> Any:
    """``log(sei_i^2 + tau^2)`` without overflow or cancellation; studies on the last axis."""
    return xp.logaddexp(log_s2, 2 * xp.col(log_t))


@dataclass(frozen=True, repr=False)
class Jeffreys(DataDependentPrior):
    r"""Jeffreys prior for tau (R bayesmeta ``"Jeffreys"``; improper).

    Tibshirani's noninformative prior, also the Berger-Bernardo reference prior:
    ``p(tau) ∝ sqrt(sum_i (tau / (sei_i^2 + tau^2))^2)``; tails like ``sqrt(k)/tau``.

    References
    ----------
    Röver C. Bayesian random-effects meta-analysis using the bayesmeta R package.
    J Stat Softw 2020;93(6):1-51. https://doi.org/10.18637/jss.v093.i06
    """

    r_name: ClassVar[str] = "Jeffreys"
    is_proper: ClassVar[bool] = False

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        return log_t + 0.5 * xp.lse(-2 * _log_s2_t2(log_t, log_s2, xp))


@dataclass(frozen=True, repr=False)
class OverallJeffreys(DataDependentPrior):
    r"""Overall Jeffreys prior for tau, from the Fisher information on (mu, tau).

    R bayesmeta ``"overallJeffreys"``:
    ``p(tau) ∝ sqrt(sum_i 1/(sei_i^2 + tau^2) * sum_i (tau / (sei_i^2 + tau^2))^2)``.

    R labels it improper (``tau.prior.proper = FALSE``), but the density is ``O(tau)`` at 0
    and ``O(k / tau^2)`` at infinity, so it integrates: here it is ``proper`` and ``logpdf``
    is normalised numerically. Posteriors are the same either way; R reports no marginal
    likelihood for it. Not recommended (mu is a location parameter; Röver 2020).
    """

    r_name: ClassVar[str] = "overallJeffreys"
    is_proper: ClassVar[bool] = True

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        lv = _log_s2_t2(log_t, log_s2, xp)
        return log_t + 0.5 * xp.lse(-lv) + 0.5 * xp.lse(-2 * lv)


@dataclass(frozen=True, repr=False)
class BergerDeely(DataDependentPrior):
    r"""Berger-Deely prior for tau (R bayesmeta ``"BergerDeely"``; improper).

    ``p(tau) ∝ prod_i (tau / (sei_i^2 + tau^2))^(1/k)``; equals :class:`Jeffreys` up to a
    constant when all standard errors are equal.
    """

    r_name: ClassVar[str] = "BergerDeely"
    is_proper: ClassVar[bool] = False

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        return log_t - xp.mean(_log_s2_t2(log_t, log_s2, xp))


@dataclass(frozen=True, repr=False)
class Conventional(DataDependentPrior):
    r"""Conventional prior for tau (R bayesmeta ``"conventional"``; proper).

    ``p(tau) ∝ prod_i (tau / (sei_i^2 + tau^2)^(3/2))^(1/k)``, normalised numerically
    (as R does). A proper variant of :class:`BergerDeely` meant for testing and model
    selection.
    """

    r_name: ClassVar[str] = "conventional"

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        return log_t - 1.5 * xp.mean(_log_s2_t2(log_t, log_s2, xp))


@dataclass(frozen=True, repr=False)
class DuMouchel(DataDependentPrior):
    r"""DuMouchel prior for tau (R bayesmeta ``"DuMouchel"``; proper).

    ``p(tau) = s0 / (s0 + tau)^2`` with ``s0^2 = k / sum_i sei_i^-2`` the harmonic mean
    of the squared standard errors: a log-logistic law, ``scipy.stats.lomax(1, scale=s0)``.
    """

    r_name: ClassVar[str] = "DuMouchel"

    def _constants(self, s2: NDArray[np.float64]) -> dict[str, float]:
        return {"s02": _harmonic_mean(s2)}

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        log_s0 = 0.5 * math.log(c["s02"])
        return log_s0 - 2 * xp.logaddexp(log_s0, log_t)

    def _scipy(self, c: dict[str, float]) -> Any:
        return stats.lomax(1.0, scale=math.sqrt(c["s02"]))


@dataclass(frozen=True, repr=False)
class UniformShrinkage(DataDependentPrior):
    r"""Uniform shrinkage prior for tau (R bayesmeta ``"shrinkage"``; proper).

    ``s0^2 / (s0^2 + tau^2)`` is uniform on (0, 1), i.e.
    ``p(tau) = 2 s0^2 tau / (s0^2 + tau^2)^2`` with ``s0^2 = k / sum_i sei_i^-2`` (harmonic
    mean of the squared standard errors); ``scipy.stats.burr12(2, 1, scale=s0)``.
    """

    r_name: ClassVar[str] = "shrinkage"

    def _constants(self, s2: NDArray[np.float64]) -> dict[str, float]:
        return {"c": _harmonic_mean(s2)}

    def _log_kernel(self, log_t: Any, log_s2: Any, c: dict[str, float], xp: Any) -> Any:
        lc = math.log(c["c"])
        return math.log(2.0) + lc + log_t - 2 * xp.logaddexp(lc, 2 * log_t)

    def _scipy(self, c: dict[str, float]) -> Any:
        return stats.burr12(2.0, 1.0, scale=math.sqrt(c["c"]))


@dataclass(frozen=True, repr=False)
class UniformI2(UniformShrinkage):
    r"""Uniform prior on I^2 (R bayesmeta ``"I2"``; proper; needs k >= 2 studies).

    ``I^2 = tau^2 / (tau^2 + s^2)`` is uniform on (0, 1), i.e.
    ``p(tau) = 2 s^2 tau / (s^2 + tau^2)^2`` with Higgins and Thompson's typical
    within-study variance ``s^2 = (k - 1) sum_i w_i / ((sum_i w_i)^2 - sum_i w_i^2)``,
    ``w_i = sei_i^-2``.

    References
    ----------
    Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. Stat Med
    2002;21(11):1539-1558 (eqn 9). https://doi.org/10.1002/sim.1186
    """

    r_name: ClassVar[str] = "I2"
    min_studies: ClassVar[int] = 2

    def _constants(self, s2: NDArray[np.float64]) -> dict[str, float]:
        w = 1 / s2
        total = w.sum()
        # (sum w)^2 - sum w^2 = sum_i w_i (sum w - w_i), without cancellation
        return {"c": float((len(w) - 1) * total / np.sum(w * (total - w)))}


def _harmonic_mean(s2: NDArray[np.float64]) -> float:
    return float(len(s2) / np.sum(1 / s2))


@dataclass(frozen=True, repr=False)
class BoundPrior(Prior):
    """A :class:`DataDependentPrior` bound to the studies' standard errors ``sei``.

    Made by ``prior.bind(sei)``. ``logpdf`` is exact: normalised for proper priors
    (closed form, or numerical integration for :class:`Conventional` and
    :class:`OverallJeffreys`), R bayesmeta's unnormalised kernel for improper ones.
    ``cdf``, ``ppf`` and ``rvs`` exist for proper priors only. ``to_dict`` keeps ``sei``.

    Examples
    --------
    >>> p = DuMouchel().bind([0.5, 0.5])
    >>> p.name, p.proper, p.sei
    ('DuMouchel', True, (0.5, 0.5))
    >>> round(float(p.cdf(0.5)), 6)
    0.5
    """

    support: ClassVar[str] = "positive"
    prior: DataDependentPrior
    sei: tuple[float, ...]

    def _check(self) -> None:
        if not isinstance(self.prior, DataDependentPrior):
            raise PriorError(f"BoundPrior: prior must be data-dependent, got {self.prior!r}")
        name = self.prior.name
        if len(self.sei) < self.prior.min_studies:
            raise PriorError(
                f"{name}: needs at least {self.prior.min_studies} standard error(s), "
                f"got {len(self.sei)}"
            )
        for v in self.sei:
            if not (_is_number(v) and math.isfinite(v) and v > 0):
                raise PriorError(f"{name}: sei must be finite and > 0, got {v!r}")
            self._representable("sei", float(v))

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """No distribution parameters (``prior`` and ``sei`` are not parameters)."""
        return ()

    @property
    def name(self) -> str:
        """Name of the data-dependent prior (e.g. ``Jeffreys``)."""
        return self.prior.name

    @property
    def proper(self) -> bool:
        """Whether the density integrates to one."""
        return self.prior.proper

    def __repr__(self) -> str:
        text = f"{self.name}(bound to k={len(self.sei)} standard errors)"
        return f"{text}  # {self.note}" if self.note else text

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"dist": name, "sei": [...]}`` (plus metadata)."""
        return self._add_meta({"dist": self.name, "sei": [float(v) for v in self.sei]})

    def bind(self, sei: ArrayLike) -> BoundPrior:
        """Bind the underlying prior to other standard errors."""
        return self.prior.bind(sei)

    # -- numerics -------------------------------------------------------------------------
    @cached_property
    def _log_s2(self) -> NDArray[np.float64]:
        return 2 * np.log(np.asarray(self.sei, dtype=float))

    @cached_property
    def _u0(self) -> float:
        # log of the geometric mean standard error: where the density has its bulk
        return 0.5 * float(np.mean(self._log_s2))

    @cached_property
    def _c(self) -> dict[str, float]:
        return self.prior._constants(np.asarray(self.sei, dtype=float) ** 2)

    def _kernel_u(self, u: ArrayLike) -> NDArray[np.float64]:
        u = np.asarray(u, dtype=float)
        return np.asarray(self.prior._log_kernel(u, self._log_s2, self._c, _NumpyOps), dtype=float)

    def scipy(self) -> Any:
        """Closed-form scipy law (DuMouchel, UniformShrinkage, UniformI2), else raise."""
        law = self.prior._scipy(self._c)
        if law is None:
            what = "closed-form scipy equivalent"
            if not self.proper:
                raise _improper(self.name, what)
            raise PriorError(f"{self.name} has no {what} (normalised numerically)")
        return law

    @cached_property
    def _log_norm(self) -> float:
        """Log normalising constant of the kernel (0 when improper or closed form)."""
        if not self.proper or self.prior._scipy(self._c) is not None:
            return 0.0
        u0 = self._u0
        shift = float(self._kernel_u(u0)) + u0
        lo, hi = self._quad(-np.inf, u0, shift), self._quad(u0, np.inf, shift)
        return shift + math.log(lo + hi)

    def _quad(self, a: float, b: float, shift: float) -> float:
        def f(u: float) -> float:
            return math.exp(float(self._kernel_u(u)) + u - shift)

        return integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-12, limit=400)[0]

    def logpdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Exact log density; ``-inf`` below 0 (unnormalised when improper)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log(np.where(x >= 0, x, 1.0))
        out = self._kernel_u(u) - self._log_norm
        return np.where(x >= 0, out, np.where(np.isnan(x), np.nan, -np.inf))

    def _need_proper(self, what: str) -> None:
        if not self.proper:
            raise _improper(self.name, what)

    def cdf(self, x: ArrayLike) -> NDArray[np.float64]:
        """Cumulative distribution function (proper priors only)."""
        self._need_proper("cdf")
        law = self.prior._scipy(self._c)
        if law is not None:
            return np.asarray(law.cdf(x), dtype=float)
        x = np.asarray(x, dtype=float)
        out = np.vectorize(self._cdf_scalar, otypes=[float])(x)
        return np.asarray(out, dtype=float)

    def _cdf_scalar(self, x: float) -> float:
        if math.isnan(x):
            return math.nan
        if x <= 0:
            return 0.0
        if x == _INF:
            return 1.0
        u, shift = math.log(x), self._log_norm
        u0 = self._u0
        if u <= u0:
            return min(1.0, self._quad(-np.inf, u, shift))
        return max(0.0, 1.0 - self._quad(u, np.inf, shift))

    def ppf(self, q: ArrayLike) -> NDArray[np.float64]:
        """Quantile function (proper priors only; numerical root for the numeric ones)."""
        self._need_proper("quantile function")
        law = self.prior._scipy(self._c)
        if law is not None:
            return np.asarray(law.ppf(q), dtype=float)
        q = np.asarray(q, dtype=float)
        return np.asarray(np.vectorize(self._ppf_scalar, otypes=[float])(q), dtype=float)

    def _ppf_scalar(self, q: float) -> float:
        if not 0 <= q <= 1:
            return math.nan
        if q == 0:
            return 0.0
        if q == 1:
            return _INF
        u0 = self._u0
        lo, hi = u0 - 1.0, u0 + 1.0
        while self._cdf_scalar(math.exp(lo)) > q:
            lo -= 2.0
        while self._cdf_scalar(math.exp(hi)) < q:
            hi += 2.0
        u = optimize.brentq(
            lambda v: self._cdf_scalar(math.exp(v)) - q, lo, hi, xtol=1e-13, rtol=1e-13
        )
        return math.exp(u)

    def rvs(self, size: int | tuple[int, ...], rng: np.random.Generator) -> NDArray[np.float64]:
        """Random draws (proper priors only; by inversion for the numeric ones)."""
        self._need_proper("random draws")
        law = self.prior._scipy(self._c)
        if law is not None:
            return np.asarray(law.rvs(size=size, random_state=rng), dtype=float)
        return self.ppf(rng.uniform(size=size))

    def to_pymc(self, name: str, **kwargs: Any) -> Any:
        """Create ``pm.HalfFlat(name)`` plus ``pm.Potential(name + "_prior", logpdf)``."""
        import pymc as pm
        import pytensor.tensor as pt

        tau = pm.HalfFlat(name, **kwargs)
        log_s2 = pt.as_tensor_variable(self._log_s2)
        lp = self.prior._log_kernel(pt.log(tau), log_s2, self._c, _tensor_ops())
        pm.Potential(f"{name}_prior", lp - self._log_norm)
        return tau


#: R bayesmeta's named ``tau.prior`` options and the classes implementing them.
RBAYESMETA: dict[str, type[Prior]] = {
    "uniform": ImproperUniform,
    "Jeffreys": Jeffreys,
    "overallJeffreys": OverallJeffreys,
    "BergerDeely": BergerDeely,
    "conventional": Conventional,
    "DuMouchel": DuMouchel,
    "shrinkage": UniformShrinkage,
    "I2": UniformI2,
    "sqrt": ImproperUniformSqrt,
}


def rbayesmeta(name: str) -> Prior:
    """Return R bayesmeta's named heterogeneity prior (``tau.prior = name``).

    Parameters
    ----------
    name : str
        One of R bayesmeta's names, case-insensitive: ``"uniform"`` (improper, R's
        default), ``"Jeffreys"``, ``"overallJeffreys"``, ``"BergerDeely"``,
        ``"conventional"``, ``"DuMouchel"``, ``"shrinkage"``, ``"I2"``, ``"sqrt"``.

    Returns
    -------
    Prior
        :class:`ImproperUniform`, :class:`ImproperUniformSqrt`, or a
        :class:`DataDependentPrior` to be bound to the standard errors with ``bind(sei)``.

    Raises
    ------
    PriorError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> rbayesmeta("uniform")
    ImproperUniform()
    >>> rbayesmeta("i2")
    UniformI2()
    >>> rbayesmeta("I2").bind([0.1, 0.2]).proper
    True
    """
    if not isinstance(name, str):
        raise PriorError(f"rbayesmeta: the name must be a string, got {name!r}")
    low = {k.lower(): cls for k, cls in RBAYESMETA.items()}
    cls = low.get(name.strip().lower())
    if cls is None:
        raise PriorError(
            f"rbayesmeta: unknown tau prior {name.strip()!r}; valid (R bayesmeta's names, "
            f"case-insensitive): {', '.join(RBAYESMETA)}"
        )
    return cls()


# -- parsing ----------------------------------------------------------------------------
#: Prior classes by lower-case name (for specs and the command line).
DISTRIBUTIONS: dict[str, type[Prior]] = {
    cls.__name__.lower(): cls
    for cls in (
        Normal,
        StudentT,
        TruncatedNormal,
        Flat,
        HalfNormal,
        HalfCauchy,
        HalfStudentT,
        LogNormal,
        LogStudentT,
        Uniform,
        Exponential,
        InverseGamma,
        ImproperUniform,
        ImproperUniformSqrt,
        Jeffreys,
        OverallJeffreys,
        BergerDeely,
        Conventional,
        DuMouchel,
        UniformShrinkage,
        UniformI2,
    )
}

_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?)", re.IGNORECASE)
_KEY = re.compile(r"[A-Za-z_]\w*")
_HEAD = re.compile(r"[A-Za-z][\w\- ]*")


def _key(name: str) -> str:
    """Canonical lookup key: lower case without ``_``, ``-`` and spaces."""
    return re.sub(r"[\s_\-]", "", name).lower()


def _valid_names() -> str:
    return (
        ", ".join(c.__name__ for c in DISTRIBUTIONS.values())
        + "; empirical: "
        + ", ".join(EMPIRICAL)
        + "; rbayesmeta(NAME) with NAME one of "
        + ", ".join(RBAYESMETA)
    )


def _make(name: str, args: list[Any], kwargs: dict[str, Any]) -> Prior:
    cls = DISTRIBUTIONS.get(_key(name))
    if cls is None:
        raise PriorError(f"unknown prior {name.strip()!r}; valid: {_valid_names()}")
    names = cls.param_names()
    kwargs = dict(kwargs)
    sei = kwargs.pop("sei", None) if cls.data_dependent else None
    unknown = sorted(set(kwargs) - set(names) - set(_META))
    if unknown:
        raise PriorError(
            f"{cls.__name__}: unknown parameter(s) {', '.join(unknown)}; "
            f"parameters: {', '.join(names) or 'none'}"
        )
    if len(args) > len(names):
        raise PriorError(
            f"{cls.__name__} takes {len(names)} parameter(s) ({', '.join(names)}), got {len(args)}"
        )
    twice = sorted(set(names[: len(args)]) & set(kwargs))
    if twice:
        raise PriorError(f"{cls.__name__}: parameter(s) {', '.join(twice)} given twice")
    missing = [n for n in names[len(args) :] if n not in kwargs]
    if missing:
        s = "s" if len(missing) > 1 else ""
        hint = (
            "; for R bayesmeta's improper uniform prior on tau use improper_uniform"
            if cls is Uniform
            else ""
        )
        raise PriorError(
            f"{cls.__name__}: missing parameter{s} {', '.join(missing)} "
            f"(write {cls.__name__}({', '.join(names)})){hint}"
        )
    for key, value in [*zip(names, args, strict=False), *kwargs.items()]:
        if key not in _META and not _is_number(value):
            raise PriorError(f"{cls.__name__}: {key} must be a number, got {value!r}")
    prior = cls(*args, **kwargs)
    return prior if sei is None else prior.bind(sei)


def parse(text: str) -> Prior:
    """Parse a prior written as text.

    ``NAME(p1, p2, ...)`` or ``NAME(key=value, ...)`` with PyMC's class and parameter
    names (case-insensitive; ``_`` ignored), every parameter given; ``"flat"``; an
    empirical prior ``"turner2015(outcome; comparison)"``; or R bayesmeta's named tau
    priors as ``"rbayesmeta(Jeffreys)"`` or by class name (``"jeffreys"``,
    ``"improper_uniform"``).

    Raises
    ------
    PriorError
        For anything else, saying what is wrong and listing the valid names.

    Examples
    --------
    >>> parse("halfnormal(0.5)")
    HalfNormal(sigma=0.5)
    >>> parse("Normal(mu=0, sigma=4)")
    Normal(mu=0, sigma=4)
    >>> parse("truncated_normal(0, 1, lower=0, upper=inf)")
    TruncatedNormal(mu=0, sigma=1, lower=0, upper=inf)
    >>> parse("rbayesmeta(uniform)")
    ImproperUniform()
    >>> parse("normal(0)")
    Traceback (most recent call last):
    ...
    bayesmeta.priors.PriorError: Normal: missing parameter sigma (write Normal(mu, sigma))
    """
    if not isinstance(text, str):
        raise PriorError(f"a prior must be given as text, got {text!r}")
    text = text.strip()
    if not text:
        raise PriorError(
            f"empty prior specification; write e.g. 'halfnormal(0.5)'. Valid: {_valid_names()}"
        )
    head, sep, rest = text.partition("(")
    head = head.strip()
    if not _HEAD.fullmatch(head):
        raise PriorError(
            f"cannot parse prior {text!r}: expected NAME or NAME(parameters), "
            "e.g. 'halfnormal(0.5)'"
        )
    rest = rest.rstrip()
    if sep and not rest.endswith(")"):
        raise PriorError(f"cannot parse prior {text!r}: missing ')' at the end")
    inner = rest[:-1] if sep else ""
    key = _key(head)
    if key in EMPIRICAL:
        parts = [p.strip() for p in inner.split(";")] if inner.strip() else []
        return _empirical(key, parts, {})
    if key == "rbayesmeta":
        return rbayesmeta(inner)
    if "(" in inner or ")" in inner:
        raise PriorError(f"cannot parse prior {text!r}: unbalanced parentheses")
    args: list[float] = []
    kwargs: dict[str, Any] = {}
    parts = [p.strip() for p in inner.split(",")] if inner.strip() else []
    for part in parts:
        name, eq, value = (s.strip() for s in part.partition("="))
        if not part:
            raise PriorError(f"cannot parse prior {text!r}: empty parameter")
        if eq and not _KEY.fullmatch(name):
            raise PriorError(f"cannot parse prior {text!r}: {name!r} is not a parameter name")
        number = value if eq else name
        if not _NUMBER.fullmatch(number):
            what = f"{name}={number!r}" if eq else repr(number)
            raise PriorError(f"cannot parse prior {text!r}: {what} is not a number")
        if eq:
            if name in kwargs:
                raise PriorError(f"cannot parse prior {text!r}: {name} given twice")
            kwargs[name] = float(number)
        elif kwargs:
            raise PriorError(f"cannot parse prior {text!r}: positional after keyword")
        else:
            args.append(float(number))
    return _make(head, args, kwargs)


def _empirical(name: str, args: list[str], kwargs: dict[str, Any]) -> Prior:
    func = EMPIRICAL[name]
    import inspect

    sig = inspect.signature(func)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise PriorError(
            f"{name}: {exc}; write {name}({'; '.join(sig.parameters)}) "
            f"(see bayesmeta.priors.categories({name!r}))"
        ) from None
    for key, value in [*zip(sig.parameters, args, strict=False), *kwargs.items()]:
        if not isinstance(value, str):
            raise PriorError(f"{name}: {key} must be a string, got {value!r}")
    return func(*args, **kwargs)


def from_dict(spec: dict[str, Any]) -> Prior:
    """Build a prior from a mapping.

    ``{"dist": "HalfNormal", "sigma": 0.5}`` (every parameter given; optional ``note``
    and ``intended_measure``), ``{"empirical": "turner2015", "outcome": ...,
    "comparison": ...}``, or ``{"rbayesmeta": "Jeffreys"}``. A data-dependent prior may
    carry its standard errors: ``{"dist": "Jeffreys", "sei": [...]}`` returns it bound.
    Inverse of :meth:`Prior.to_dict`.

    Examples
    --------
    >>> from_dict({"dist": "HalfCauchy", "beta": 1})
    HalfCauchy(beta=1)
    >>> from_dict({"rbayesmeta": "DuMouchel"})
    DuMouchel()
    """
    if not isinstance(spec, dict):
        raise PriorError(f"a prior mapping must be a dict, got {spec!r}")
    spec = dict(spec)
    if "empirical" in spec:
        name = str(spec.pop("empirical")).lower()
        if name not in EMPIRICAL:
            raise PriorError(f"unknown empirical prior {name!r}; valid: {', '.join(EMPIRICAL)}")
        return _empirical(name, [], spec)
    if "rbayesmeta" in spec:
        prior = rbayesmeta(spec.pop("rbayesmeta"))
        sei = spec.pop("sei", None)
        if spec:
            raise PriorError(f"rbayesmeta: unexpected key(s) {', '.join(sorted(spec))}")
        return prior if sei is None else prior.bind(sei)
    if "dist" not in spec:
        raise PriorError(
            "a prior needs 'dist' (e.g. dist = \"HalfNormal\"), 'empirical' or 'rbayesmeta'"
        )
    dist = spec.pop("dist")
    if not isinstance(dist, str):
        raise PriorError(f"'dist' must be a prior name, got {dist!r}; valid: {_valid_names()}")
    return _make(dist, [], spec)


# -- empirical heterogeneity priors ------------------------------------------------------
# Marginal settings ("any outcome, any comparison"), shared/reference/README.md:
# Turner et al. 2015 log(tau^2) ~ N(-2.56, 1.74^2);
# Rhodes et al. 2015 log(tau^2) = -3.44 + 2.59 t_5.
_TURNER_ANY = (-2.56, 1.74)
_RHODES_ANY = (-3.44, 2.59)
RHODES_AREAS = ("other", "respiratory", "cancer")


@cache
def _table(filename: str) -> list[dict[str, str]]:
    import csv

    text = resources.files("bayesmeta").joinpath("resources", filename).read_text()
    return list(csv.DictReader(text.splitlines()))


def _strings(source: str, **values: Any) -> None:
    for key, value in values.items():
        if not isinstance(value, str):
            raise PriorError(f"{source}: {key} must be a string, got {value!r}")


def _match(value: str, options: list[str], what: str, source: str) -> str:
    v = value.strip().lower()
    low = {o.lower(): o for o in options}
    if v in low:
        return low[v]
    for test in (lambda o: o.startswith(v), lambda o: v in o):
        hits = [low[o] for o in low if test(o)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            break
    listing = "\n  ".join(["any", *options])
    raise PriorError(
        f"{source}: unknown or ambiguous {what} {value!r}; valid {what}s:\n  {listing}"
    )


def turner2015(outcome: str = "any", comparison: str = "any") -> LogNormal:
    """Turner et al. (2015) predictive prior for heterogeneity of log odds ratios.

    Published as ``log(tau^2) ~ Normal(m, s^2)``; returned on ``tau`` as
    ``LogNormal(m/2, s/2)`` with ``intended_measure="OR"`` (derived from meta-analyses
    of log odds ratios).

    Parameters
    ----------
    outcome, comparison : str
        Categories of Table IV (case-insensitive; a unique prefix or substring is
        enough), or ``"any"`` for the marginal setting (both must then be ``"any"``).

    Raises
    ------
    PriorError
        For unknown categories, listing the valid ones.

    References
    ----------
    Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT. Predictive distributions for
    between-study heterogeneity and simple methods for their application in Bayesian
    meta-analysis. Stat Med 2015;34(6):984-998. https://doi.org/10.1002/sim.6381

    Examples
    --------
    >>> p = turner2015("adverse events", "pharmacological vs. placebo")
    >>> p.mu, p.sigma
    (-0.935, 0.76)
    """
    rows = _table("turner2015_lognormal_tau2.csv")
    src = "turner2015"
    _strings(src, outcome=outcome, comparison=comparison)
    if outcome.strip().lower() == "any" or comparison.strip().lower() == "any":
        if not (outcome.strip().lower() == "any" and comparison.strip().lower() == "any"):
            raise PriorError(
                f"{src}: the marginal setting needs outcome='any' and "
                "comparison='any'; otherwise give both categories"
            )
        m, s = _TURNER_ANY
        label = "any outcome, any comparison"
    else:
        out = _match(outcome, list(dict.fromkeys(r["outcome"] for r in rows)), "outcome", src)
        comp = _match(
            comparison, list(dict.fromkeys(r["comparison"] for r in rows)), "comparison", src
        )
        row = next(r for r in rows if r["outcome"] == out and r["comparison"] == comp)
        m, s = float(row["logtau2_mean"]), float(row["logtau2_sd"])
        label = f"{out}; {comp}"
    return LogNormal(
        m / 2,
        s / 2,
        note=f"Turner 2015, {label}: log(tau^2) ~ Normal({m:g}, {s:g}^2)",
        intended_measure="OR",
    )


def rhodes2015(outcome: str = "any", comparison: str = "any", area: str = "other") -> LogStudentT:
    """Rhodes et al. (2015) predictive prior for heterogeneity of standardised mean differences.

    Published as ``log(tau^2) = m + s t_5``; returned on ``tau`` as
    ``LogStudentT(5, m/2, s/2)`` with ``intended_measure="SMD"``.

    Parameters
    ----------
    outcome, comparison : str
        Categories of Table 3 (case-insensitive; unique prefix or substring), or ``"any"``
        for the marginal setting (both ``"any"``).
    area : {"other", "respiratory", "cancer"}
        Medical area (appendix tables A.3.1 and A.3.2).

    References
    ----------
    Rhodes KM, Turner RM, Higgins JPT. Predictive distributions were developed for the
    extent of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol
    2015;68(1):52-60. https://doi.org/10.1016/j.jclinepi.2014.08.012

    Examples
    --------
    >>> p = rhodes2015("any", "any")
    >>> p.nu, p.mu, p.sigma
    (5, -1.72, 1.295)
    """
    rows = _table("rhodes2015_logt5_tau2.csv")
    src = "rhodes2015"
    _strings(src, outcome=outcome, comparison=comparison, area=area)
    ar = _match(area, list(RHODES_AREAS), "area", src)
    if outcome.strip().lower() == "any" or comparison.strip().lower() == "any":
        if not (outcome.strip().lower() == "any" and comparison.strip().lower() == "any"):
            raise PriorError(
                f"{src}: the marginal setting needs outcome='any' and "
                "comparison='any'; otherwise give both categories"
            )
        m, s = _RHODES_ANY
        label = "any outcome, any comparison"
    else:
        sub = [r for r in rows if r["area"] == ar]
        out = _match(outcome, list(dict.fromkeys(r["outcome"] for r in sub)), "outcome", src)
        comp = _match(
            comparison, list(dict.fromkeys(r["comparison"] for r in sub)), "comparison", src
        )
        row = next(r for r in sub if r["outcome"] == out and r["comparison"] == comp)
        m, s = float(row["logtau2_location"]), float(row["logtau2_scale"])
        label = f"{out}; {comp}; area {ar}"
    return LogStudentT(
        5,
        m / 2,
        s / 2,
        note=f"Rhodes 2015, {label}: log(tau^2) = {m:g} + {s:g} t_5",
        intended_measure="SMD",
    )


#: Empirical prior constructors by name.
EMPIRICAL = {"turner2015": turner2015, "rhodes2015": rhodes2015}

#: Default prior on each study's baseline (control-arm) log odds in binomial models,
#: pairwise and network: vague on the log-odds scale (probabilities 2e-9 to 1 - 2e-9 within
#: two SDs) without the flat plateau of Normal(0, 100), on which studies with no events
#: send NUTS into divergent transitions.
BASELINE = Normal(0.0, 10.0)


def categories(name: str) -> dict[str, list[str]]:
    """List the valid categories of an empirical prior (outcome, comparison[, area]).

    Examples
    --------
    >>> categories("rhodes2015")["area"]
    ['other', 'respiratory', 'cancer']
    """
    if name == "turner2015":
        rows = _table("turner2015_lognormal_tau2.csv")
        extra: dict[str, list[str]] = {}
    elif name == "rhodes2015":
        rows = _table("rhodes2015_logt5_tau2.csv")
        extra = {"area": list(RHODES_AREAS)}
    else:
        raise PriorError(f"unknown empirical prior {name!r}; valid: {', '.join(EMPIRICAL)}")
    return {
        "outcome": ["any", *dict.fromkeys(r["outcome"] for r in rows)],
        "comparison": ["any", *dict.fromkeys(r["comparison"] for r in rows)],
        **extra,
    }

r"""Design matrices of network meta-analysis models on contrasts.

Every study contributes its contrasts against its baseline arm, stacked into one vector
``y`` with block-diagonal sampling covariance ``S``. The models are linear,

.. math::

    y \sim N(X d,\ S + \tau^2 W),

with ``W`` block-diagonal: 1 on the diagonal and 0.5 between contrasts of the same study
(contrasts that share the baseline arm, whose random effects have correlation 0.5 when
every comparison has the same heterogeneity tau).

* **Consistency**: basic parameters :math:`d_k` (treatment k against the reference, the
  reference's :math:`d = 0`); the row of contrast "arm a vs baseline b" is
  :math:`e_a - e_b`.
* **Unrelated mean effects (UME)**: one free parameter per compared pair, no consistency
  equations.
* **Node-splitting** (Dias et al. 2010) of the comparison B vs A: in every study with both
  arms the baseline is moved to A and the contrast B vs A gets its own parameter
  :math:`d_{AB}^{dir}`; all other contrasts keep the consistency parameters, whose
  :math:`d_B - d_A` is then the indirect estimate. Moving the baseline maps ``y`` and ``S``
  linearly (:meth:`~bayesmeta.network.data.StudyContrasts.rebased`), which is exact for
  arm-level MD, log OR and SMD (one pooled SD per study, see :mod:`bayesmeta.network.data`).

References
----------
Dias S, Welton NJ, Caldwell DM, Ades AE. Checking consistency in mixed treatment comparison
meta-analysis. Stat Med 2010;29(7-8):932-944. https://doi.org/10.1002/sim.3767

Dias S, Welton NJ, Sutton AJ, Caldwell DM, Lu G, Ades AE. NICE DSU Technical Support
Document 4: inconsistency in networks of evidence based on randomised controlled trials.
2011. https://www.sheffield.ac.uk/nice-dsu/tsds

Examples
--------
>>> import pandas as pd
>>> from bayesmeta.network.data import network_data
>>> df = pd.DataFrame({"study": ["A"] * 3, "treatment": ["p", "x", "y"],
...                    "mean": [0.0, 1.0, 2.0], "se": [1.0, 1.0, 1.0]})
>>> d = consistency_design(network_data(df, "MD"), reference="p")
>>> d.X.tolist(), d.W.tolist(), d.names
([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.5], [0.5, 1.0]], ('x', 'y'))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bayesmeta.errors import DataError
from bayesmeta.network.data import NetworkData, _components

__all__ = [
    "Design",
    "consistency_design",
    "nodesplit_comparisons",
    "nodesplit_design",
    "treatment_order",
    "ume_design",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Design:
    """A stacked linear model ``y ~ N(X beta, S + tau^2 W)`` on the contrasts.

    ``rows`` labels each contrast ``(study, treatment, comparator)``; ``names`` the columns
    of ``X``; ``treatments`` the network's treatments with the reference first.
    """

    y: Array
    S: Array
    W: Array
    X: Array
    names: tuple[str, ...]
    rows: tuple[tuple[str, str, str], ...]
    treatments: tuple[str, ...]


def treatment_order(nd: NetworkData, reference: str) -> tuple[str, ...]:
    """Return the treatments with ``reference`` first (then the others, sorted).

    Raises
    ------
    DataError
        When ``reference`` is not a treatment of the network.
    """
    if reference not in nd.treatments:
        raise DataError(
            f"unknown reference treatment {reference!r}; the network's treatments are: "
            f"{', '.join(nd.treatments)}"
        )
    return (reference, *[t for t in nd.treatments if t != reference])


def _blocks(nd: NetworkData, baselines: dict[str, str] | None = None):
    """Per study: (study, arms, y, cov) with the baseline moved where asked."""
    for s in nd.studies:
        b = (baselines or {}).get(s.study, s.arms[0])
        arms, y, cov = s.rebased(b)
        yield s.study, arms, y, cov


def _stack(blocks, row_fn, names, treatments) -> Design:
    ys, Ss, Ws, Xs, rows = [], [], [], [], []
    for study, arms, y, cov in blocks:
        k = len(arms) - 1
        ys.append(y)
        Ss.append(cov)
        Ws.append(np.full((k, k), 0.5) + 0.5 * np.eye(k))
        for a in arms[1:]:
            Xs.append(row_fn(study, a, arms[0]))
            rows.append((study, a, arms[0]))
    K = sum(len(y) for y in ys)
    S = np.zeros((K, K))
    W = np.zeros((K, K))
    i = 0
    for s_, w_ in zip(Ss, Ws, strict=True):
        k = s_.shape[0]
        S[i : i + k, i : i + k] = s_
        W[i : i + k, i : i + k] = w_
        i += k
    return Design(
        y=np.concatenate(ys),
        S=S,
        W=W,
        X=np.array(Xs, dtype=float).reshape(K, len(names)),
        names=tuple(names),
        rows=tuple(rows),
        treatments=tuple(treatments),
    )


def _basic_row(trts: tuple[str, ...]):
    idx = {t: i - 1 for i, t in enumerate(trts)}  # reference -> -1

    def row(a: str, b: str) -> Array:
        r = np.zeros(len(trts) - 1)
        if idx[a] >= 0:
            r[idx[a]] += 1.0
        if idx[b] >= 0:
            r[idx[b]] -= 1.0
        return r

    return row


def consistency_design(nd: NetworkData, reference: str) -> Design:
    """Consistency model: one basic parameter ``d_k`` per non-reference treatment."""
    trts = treatment_order(nd, reference)
    basic = _basic_row(trts)
    return _stack(_blocks(nd), lambda st, a, b: basic(a, b), trts[1:], trts)


def ume_design(nd: NetworkData, reference: str) -> Design:
    """Unrelated mean effects: one parameter per compared pair ``(later, earlier)``.

    Parameter names are ``"B vs A"`` with A earlier in the treatment order; a contrast
    "A vs B" enters with sign -1. In a multi-arm study each contrast against the study's
    baseline gets its pair's parameter.
    """
    trts = treatment_order(nd, reference)
    order = {t: i for i, t in enumerate(trts)}
    pairs: list[tuple[str, str]] = []
    for _, arms, _, _ in _blocks(nd):
        for a in arms[1:]:
            p = (a, arms[0]) if order[a] > order[arms[0]] else (arms[0], a)
            if p not in pairs:
                pairs.append(p)
    pairs.sort(key=lambda p: (order[p[1]], order[p[0]]))
    index = {p: i for i, p in enumerate(pairs)}

    def row(st: str, a: str, b: str) -> Array:
        r = np.zeros(len(pairs))
        if order[a] > order[b]:
            r[index[(a, b)]] = 1.0
        else:
            r[index[(b, a)]] = -1.0
        return r

    return _stack(_blocks(nd), row, [f"{a} vs {b}" for a, b in pairs], trts)


def nodesplit_comparisons(nd: NetworkData, reference: str) -> list[tuple[str, str]]:
    """Comparisons ``(B, A)`` with both direct and indirect evidence (A earlier in order).

    Indirect evidence exists when A and B stay connected once the direct B-vs-A contrasts
    are removed: studies without both arms keep all their comparisons; studies with both
    keep only their comparisons against A (so a lone three-arm trial is not a loop).
    """
    trts = treatment_order(nd, reference)
    order = {t: i for i, t in enumerate(trts)}
    direct: list[tuple[str, str]] = []
    for s in nd.studies:
        for a in s.arms:
            for b in s.arms:
                if order[a] > order[b] and (a, b) not in direct:
                    direct.append((a, b))
    direct.sort(key=lambda p: (order[p[1]], order[p[0]]))
    out = []
    for b_, a_ in direct:
        links: list[tuple[str, ...]] = []
        for s in nd.studies:
            if a_ in s.arms and b_ in s.arms:
                links.append(tuple([a_, *[x for x in s.arms if x not in (a_, b_)]]))
            else:
                links.append(s.arms)
        comps = _components(trts, links)
        if any(a_ in c and b_ in c for c in comps):
            out.append((b_, a_))
    return out


def nodesplit_design(nd: NetworkData, reference: str, comparison: tuple[str, str]) -> Design:
    """Node-split model for ``comparison = (B, A)``: basic parameters plus ``direct``.

    The last column of ``X`` is the direct B-vs-A effect; the first columns are the basic
    parameters (``d_B - d_A`` among them is the indirect estimate).
    """
    b_, a_ = comparison
    trts = treatment_order(nd, reference)
    basic = _basic_row(trts)
    base = {s.study: a_ for s in nd.studies if a_ in s.arms and b_ in s.arms}
    if not base:
        raise DataError(f"no study compares {b_} with {a_} directly")

    def row(st: str, a: str, b: str) -> Array:
        if st in base and a == b_:
            return np.concatenate([np.zeros(len(trts) - 1), [1.0]])
        return np.concatenate([basic(a, b), [0.0]])

    return _stack(_blocks(nd, base), row, [*trts[1:], "direct"], trts)

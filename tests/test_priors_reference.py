"""R bayesmeta's named tau priors: our bound logpdf against R bayesmeta 3.4's ``dprior``.

Reference values computed in R 4.2.2 Patched (2022-11-10 r83330) with bayesmeta 3.4 by::

    suppressMessages(library(bayesmeta))
    sets <- list(a = c(0.2, 0.3, 0.5), b = c(0.05, 0.4, 1.2, 0.8, 0.33))
    tau <- c(0.01, 0.1, 0.3, 1, 3)
    for (s in names(sets)) for (p in c("uniform", "Jeffreys", "overallJeffreys",
        "BergerDeely", "conventional", "DuMouchel", "shrinkage", "I2", "sqrt")) {
      fit <- bayesmeta(y = rep(0, length(sets[[s]])), sigma = sets[[s]], tau.prior = p)
      v <- fit$dprior(tau = tau, log = TRUE)   # printed with sprintf("%.17g")
      # and fit$tau.prior.proper
    }

``dprior(log=TRUE)`` is R's prior density on tau: unnormalised for the priors R calls
improper, normalised (numerically, by R's ``integrate``) for "conventional".
"""

import numpy as np
import pytest
from scipy import integrate

from bayesmeta import priors as P

SEI = {"a": [0.2, 0.3, 0.5], "b": [0.05, 0.4, 1.2, 0.8, 0.33]}
TAU = np.array([0.01, 0.1, 0.3, 1, 3])

# (sei set, R tau.prior name, R's tau.prior.proper, R's dprior(tau, log=TRUE))
R_DPRIOR = [
    ("a", "uniform", False, [0, 0, 0, 0, 0]),
    (
        "a",
        "Jeffreys",
        False,
        [
            -1.2878161984906196,
            0.81929724836277784,
            1.0920003337682158,
            0.43903189329212666,
            -0.5631386507991839,
        ],
    ),
    (
        "a",
        "overallJeffreys",
        False,
        [
            0.55705878449349788,
            2.5802099330881627,
            2.4841675601074793,
            0.93174802489795061,
            -1.1193848703520997,
        ],
    ),
    (
        "a",
        "BergerDeely",
        False,
        [
            -2.2688006859427503,
            -0.087454754822497066,
            0.40730350167086776,
            -0.11618065356951451,
            -1.1125402560378259,
        ],
    ),
    (
        "a",
        "conventional",
        True,
        [
            -2.2141630799516028,
            -0.093436729768245685,
            0.099394510637746514,
            -1.2878181243857947,
            -3.3316636724223168,
        ],
    ),
    (
        "a",
        "DuMouchel",
        True,
        [
            1.2246948245966576,
            0.67325196243882002,
            -0.18446206418618741,
            -1.7800298472814298,
            -3.6682288671833891,
        ],
    ),
    (
        "a",
        "shrinkage",
        True,
        [
            -1.3216542010974861,
            0.73262340598846709,
            0.50227273817159068,
            -2.0441486743493913,
            -5.2122825963806552,
        ],
    ),
    (
        "a",
        "I2",
        True,
        [
            -1.5602487739481568,
            0.54427355783353082,
            0.51009489666003782,
            -1.8422399333585791,
            -4.9775685420937119,
        ],
    ),
    (
        "a",
        "sqrt",
        False,
        [2.3025850929940459, 1.1512925464970227, 0.60198640216296806, 0, -0.54930614433405489],
    ),
    ("b", "uniform", False, [0, 0, 0, 0, 0]),
    (
        "b",
        "Jeffreys",
        False,
        [
            1.3474996997622231,
            2.0878224608296136,
            1.3350327971035236,
            0.56427695489676444,
            -0.34040754624677561,
        ],
    ),
    (
        "b",
        "overallJeffreys",
        False,
        [
            4.3460893492089347,
            4.3727022360968837,
            2.8774059679803163,
            1.2292661835070757,
            -0.6582683870739684,
        ],
    ),
    (
        "b",
        "BergerDeely",
        False,
        [
            -2.5887649462080624,
            -0.63405003068381993,
            -0.14972538469769309,
            -0.32819593988702234,
            -1.1480209401024537,
        ],
    ),
    (
        "b",
        "conventional",
        True,
        [
            -2.2234248927097671,
            -0.44264506592042552,
            -0.26546424127529006,
            -1.1351564762222517,
            -2.9142001208794532,
        ],
    ),
    (
        "b",
        "DuMouchel",
        True,
        [
            2.0377295434882829,
            0.91426935192949421,
            -0.42657543437219536,
            -2.4203076166739197,
            -4.4815166023048327,
        ],
    ),
    (
        "b",
        "shrinkage",
        True,
        [
            0.49663966116237118,
            1.6013605481266839,
            -0.36998517628341165,
            -3.7559527302315812,
            -7.0306489075337053,
        ],
    ),
    (
        "b",
        "I2",
        True,
        [
            -1.7640779936809132,
            0.37555282785148231,
            0.49419399862529761,
            -1.6769535075520019,
            -4.7780783101119191,
        ],
    ),
    (
        "b",
        "sqrt",
        False,
        [2.3025850929940459, 1.1512925464970227, 0.60198640216296806, 0, -0.54930614433405489],
    ),
]

# closed-form densities: both sides evaluate the same formula in double precision
CLOSED_FORM_TOL = 1e-12
# "conventional" is normalised by numerical integration on both sides (R's integrate with
# rel.tol 2^16 * eps ~ 1.5e-11, ours quad with epsrel 1e-12)
NUMERIC_NORMALISATION_TOL = 1e-9


def _case_id(case):
    return f"{case[1]}-{case[0]}"


def test_reference_grid_covers_every_r_prior():
    assert {c[1] for c in R_DPRIOR} == set(P.RBAYESMETA)
    assert {c[0] for c in R_DPRIOR} == set(SEI)


def _bound(name, sei):
    return P.rbayesmeta(name).bind(sei)


@pytest.mark.parametrize("case", R_DPRIOR, ids=_case_id)
def test_logpdf_differences_match_r(case):
    # valid for every prior, proper or not: logpdf(t) - logpdf(t0) cancels any constant
    s, name, _, want = case
    got = _bound(name, SEI[s]).logpdf(TAU)
    want = np.asarray(want)
    np.testing.assert_allclose(got - got[2], want - want[2], rtol=0, atol=CLOSED_FORM_TOL)


@pytest.mark.parametrize(
    "case", [c for c in R_DPRIOR if c[2] and c[1] != "conventional"], ids=_case_id
)
def test_normalised_logpdf_matches_r(case):
    s, name, _, want = case
    np.testing.assert_allclose(_bound(name, SEI[s]).logpdf(TAU), want, rtol=0, atol=CLOSED_FORM_TOL)


@pytest.mark.parametrize("s", sorted(SEI))
def test_conventional_normalised_like_r(s):
    want = next(c[3] for c in R_DPRIOR if c[0] == s and c[1] == "conventional")
    np.testing.assert_allclose(
        _bound("conventional", SEI[s]).logpdf(TAU), want, rtol=0, atol=NUMERIC_NORMALISATION_TOL
    )


@pytest.mark.parametrize("case", R_DPRIOR, ids=_case_id)
def test_properness_matches_r(case):
    s, name, r_proper, _ = case
    p = _bound(name, SEI[s])
    if name == "overallJeffreys":
        # R flags it improper, but its density is O(tau) at 0 and O(k/tau^2) at infinity:
        # it integrates, so we normalise it (see OverallJeffreys)
        assert not r_proper and p.proper
        total = integrate.quad(lambda t: np.exp(p.logpdf(t)), 0, np.inf, limit=400)[0]
        assert total == pytest.approx(1.0, abs=1e-8)
    else:
        assert p.proper is r_proper

# Regenerates metabma_towels.json: metaBMA's published "towels" example (Scheibehenne,
# Jamil & Wagenmakers 2016) -- data, priors, every number printed in metaBMA 0.6.9's
# vignette and asserted in its tests (with their tolerances), PLUS exact values for the same
# models computed here with integrate() (rel.tol=1e-12), because metaBMA's own numbers come
# from Stan sampling / bridge sampling / rel.tol=.1 integration and are only ~2-3 digits.
# metaBMA itself is NOT installed (needs Stan); its source was read from github:cran/metaBMA.
# The towels data below were read with load("data/towels.RData") from that source.
# Run from the repo root:  Rscript tests/reference/metabma_towels.R
here <- local({
  a <- commandArgs(trailingOnly = FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")})
source(file.path(here, "bayesmeta_common.R"))

towels <- data.frame(
  study = c("Goldstein, Cialdini, & Griskevicius (2008), Exp. 1",
            "Goldstein, Cialdini, & Griskevicius  (2008), Exp. 2",
            "Schultz, Khazian, & Zaleski (2008), Exp. 2",
            "Schultz, Khazian, & Zaleski (2008), Exp. 3",
            "Mair & Bergin-Seers (2010), Exp. 1",
            "Bohner & Schluter (2014), Exp. 1",
            "Bohner & Schluter (2014), Exp. 2"),
  logOR = c(0.380601745689490, 0.304937671063211, 0.205537851829761, 0.250844710396569,
            0.287682072451781, -0.121542438580289, -1.457924017259145),
  SE = c(0.197690114442254, 0.136115505618293, 0.191592042479791, 0.170076929888908,
         0.823754471047914, 0.248053979308256, 0.760179807893780),
  stringsAsFactors = FALSE)
y <- towels$logOR; se <- towels$SE
RT <- 1e-12

# ---------- exact model computations ----------
# d prior: N(m0, s0^2) restricted to d > 0 if `pos` (metaBMA prior("norm", c(m0, s0), lower=0)).
# With v_i = SE_i^2 + tau^2 the (untruncated) Gaussian algebra gives, for given tau:
#   log int N(d|m0,s0^2) prod N(y_i|d,v_i) dd = nn_logL(tau, y, SE, m0, s0)   [bayesmeta_common.R]
#   d | tau, y ~ N(muhat, V) (untruncated);  truncation multiplies by Phi(muhat/sqrt V)/Phi(m0/s0).
logL_H1 <- function(t, m0, s0, pos) {
  l <- nn_logL(t, y, se, m0, s0)
  if (pos) { cc <- nn_cond(t, y, se, m0, s0)
    l <- l + pnorm(cc[["mean"]] / sqrt(cc[["var"]]), log.p = TRUE) - pnorm(m0 / s0, log.p = TRUE) }
  l
}
logL_H0 <- function(t) sum(dnorm(y, 0, sqrt(se^2 + t^2), log = TRUE))
tau_int <- function(f, atol = 0) {  # int_0^Inf f(tau) dtau, split for accuracy
  b <- c(0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 5, Inf); s <- 0
  for (j in 1:(length(b) - 1)) s <- s + integrate(Vectorize(f), b[j], b[j + 1], rel.tol = RT,
                                                  abs.tol = atol, subdivisions = 2000L)$value
  s
}
# d | tau posterior CDF/moments (truncated or not)
d_cdf_tau <- function(x, t, m0, s0, pos) {
  cc <- nn_cond(t, y, se, m0, s0); m <- cc[["mean"]]; s <- sqrt(cc[["var"]])
  if (!pos) return(pnorm(x, m, s))
  if (x <= 0) return(0)
  (pnorm(x, m, s) - pnorm(0, m, s)) / pnorm(0, m, s, lower.tail = FALSE)
}
d_mom_tau <- function(t, m0, s0, pos) {  # E[d], E[d^2] given tau
  cc <- nn_cond(t, y, se, m0, s0); m <- cc[["mean"]]; s <- sqrt(cc[["var"]])
  if (!pos) return(c(m, s^2 + m^2))
  a <- -m / s; lam <- dnorm(a) / pnorm(a, lower.tail = FALSE)
  e1 <- m + s * lam; v <- s^2 * (1 + a * lam - lam^2)
  c(e1, v + e1^2)
}
solve_q <- function(F, p, lo, hi) {
  while (F(lo) > p) lo <- lo - 1
  while (F(hi) < p) hi <- hi + 1
  uniroot(function(x) F(x) - p, c(lo, hi), tol = 1e-13, maxiter = 1000)$root
}

analyse <- function(m0, s0, pos, ltau_prior, label) {
  lp <- function(t) if (t <= 0) -Inf else ltau_prior(t)
  f0 <- sum(dnorm(y, 0, se, log = TRUE))
  f1 <- logL_H1(0, m0, s0, pos)
  # random: normalise integrands by a constant for numerical safety
  c1 <- logL_H1(0.1, m0, s0, pos); c0 <- logL_H0(0.1)
  Z1 <- tau_int(function(t) exp(lp(t) + logL_H1(t, m0, s0, pos) - c1))
  Z0 <- tau_int(function(t) exp(lp(t) + logL_H0(t) - c0))
  r1 <- log(Z1) + c1; r0 <- log(Z0) + c0
  logml <- c(fixed_H0 = f0, fixed_H1 = f1, random_H0 = r0, random_H1 = r1)
  BF <- outer(logml, logml, function(a, b) exp(a - b))   # BF[i, j] = p(y|M_i)/p(y|M_j)
  dimnames(BF) <- list(names(logml), names(logml))
  pp <- exp(logml - max(logml)); pp <- pp / sum(pp)
  incl_BF <- (exp(f1) + exp(r1)) / (exp(f0) + exp(r0))
  # posteriors of d
  post_tau1 <- function(t) exp(lp(t) + logL_H1(t, m0, s0, pos) - c1) / Z1
  Ffix <- function(x) d_cdf_tau(x, 0, m0, s0, pos)
  Frnd <- function(x) tau_int(function(t) post_tau1(t) * d_cdf_tau(x, t, m0, s0, pos), atol = 1e-15)
  wf <- pp[["fixed_H1"]] / (pp[["fixed_H1"]] + pp[["random_H1"]]); wr <- 1 - wf
  Favg <- function(x) wf * Ffix(x) + wr * Frnd(x)
  mf <- d_mom_tau(0, m0, s0, pos)
  mr <- c(tau_int(function(t) post_tau1(t) * d_mom_tau(t, m0, s0, pos)[1]),
          tau_int(function(t) post_tau1(t) * d_mom_tau(t, m0, s0, pos)[2]))
  ma <- wf * mf + wr * mr
  summ <- function(mom, F) {
    q <- vapply(c(0.025, 0.5, 0.975), function(p) solve_q(F, p, -1, 1), 0)
    c(mean = mom[1], sd = sqrt(mom[2] - mom[1]^2), q025 = q[1], q500 = q[2], q975 = q[3])
  }
  # tau | y under random_H1
  Et <- tau_int(function(t) post_tau1(t) * t); Et2 <- tau_int(function(t) post_tau1(t) * t^2)
  Ftau <- function(q) { if (q <= 0) return(0); s <- 0; b <- c(0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 5); b <- c(b[b < q], q)
    for (j in 1:(length(b) - 1)) s <- s + integrate(Vectorize(post_tau1), b[j], b[j + 1], rel.tol = RT, abs.tol = 1e-15)$value; s }
  tq <- vapply(c(0.025, 0.5, 0.975), function(p) exp(uniroot(function(lq) Ftau(exp(lq)) - p, c(-20, 5), tol = 1e-13)$root), 0)
  list(label = label,
       log_marginal_likelihood = logml,
       BF_row_over_column = mat_rows(BF),
       posterior_model_probabilities_equal_prior = pp,
       inclusion_BF = incl_BF,
       inclusion_posterior_probability = pp[["fixed_H1"]] + pp[["random_H1"]],
       averaging_weights_H1 = c(fixed = wf, random = wr),
       d_posterior = list(fixed = summ(mf, Ffix), random = summ(mr, Frnd), averaged = summ(ma, Favg)),
       tau_posterior_random_H1 = c(mean = Et, sd = sqrt(Et2 - Et^2), q025 = tq[1], q500 = tq[2], q975 = tq[3]))
}

hc <- function(scale) function(t) log(2) + dcauchy(t, 0, scale, log = TRUE)          # t(nu=1) truncated at 0
ig <- function(shape, scale) function(t) shape * log(scale) - lgamma(shape) - (shape + 1) * log(t) - scale / t

exact <- list(
  vignette_halfcauchy0.3 = analyse(0, 0.3, TRUE, hc(0.3),
    "d ~ norm(0, 0.3) truncated to [0,Inf); tau ~ t(location=0, scale=0.3, nu=1) truncated to [0,Inf) (= half-Cauchy(0.3))"),
  test_scheibehenne2017_halfcauchy0.25 = analyse(0, 0.3, TRUE, hc(0.25),
    "d ~ norm(0, 0.3) truncated to [0,Inf); tau ~ t(0, 1/4, nu=1) truncated to [0,Inf)"),
  test_scheibehenne2017_estimation_unrestricted_d = analyse(0, 0.3, FALSE, hc(0.25),
    "d ~ norm(0, 0.3) (unrestricted); tau ~ t(0, 1/4, nu=1) truncated to [0,Inf)"),
  man_example_invgamma = analyse(0, 0.3, TRUE, ig(1, 0.15),
    "d ~ norm(0, 0.3) truncated to [0,Inf); tau ~ invgamma(shape=1, scale=0.15) (density of tau itself)"))

published <- list(
  vignette = list(
    file = "inst/doc/metaBMA.html (rendered from vignettes/metaBMA.Rmd)",
    fixed = list(call = "meta_fixed(logOR, SE, study, towels, d = prior('norm', c(mean=0, sd=.3), lower=0))",
                 source_lines = "vignettes/metaBMA.Rmd:69-70; output inst/doc/metaBMA.html:410-421",
                 BF_fixed_H1_over_fixed_H0 = 23.9, BF_fixed_H0_over_fixed_H1 = 0.0419,
                 d = c(mean = 0.212, sd = 0.075, q025 = 0.066, q500 = 0.212, q975 = 0.361, hpd95_lower = 0.062, hpd95_upper = 0.358)),
    random = list(call = "meta_random(logOR, SE, study, towels, d = prior('norm', c(mean=0, sd=.3), lower=0), tau = prior('t', c(location=0, scale=.3, nu=1), lower=0), iter = 1500, logml_iter = 2000, rel.tol = .1)",
                  source_lines = "vignettes/metaBMA.Rmd:86-89; output inst/doc/metaBMA.html:437-450",
                  BF_random_H1_over_random_H0 = 3.78, BF_random_H0_over_random_H1 = 0.264,
                  d = c(mean = 0.197, sd = 0.084, q025 = 0.042, q500 = 0.196, q975 = 0.364, hpd95_lower = 0.035, hpd95_upper = 0.355),
                  tau = c(mean = 0.116, sd = 0.104, q025 = 0.003, q500 = 0.090, q975 = 0.392, hpd95_lower = 0.000, hpd95_upper = 0.315),
                  note = "summaries from Stan MCMC (summarize='stan'), n_eff ~1700"),
    bma = list(call = "meta_bma(logOR, SE, study, towels, d = prior('norm', c(mean=0, sd=.3), lower=0), tau = prior('t', c(location=0, scale=.3, nu=1), lower=0), iter = 1500, logml_iter = 2000, rel.tol = .1)",
               source_lines = "vignettes/metaBMA.Rmd:107-110; output inst/doc/metaBMA.html:470-502",
               BF_row_over_column = list(
                 fixed_H0 = c(fixed_H0 = 1.00, fixed_H1 = 0.0419, random_H0 = 0.433, random_H1 = 0.114),
                 fixed_H1 = c(fixed_H0 = 23.87, fixed_H1 = 1.0000, random_H0 = 10.330, random_H1 = 2.730),
                 random_H0 = c(fixed_H0 = 2.31, fixed_H1 = 0.0968, random_H0 = 1.000, random_H1 = 0.264),
                 random_H1 = c(fixed_H0 = 8.74, fixed_H1 = 0.3663, random_H0 = 3.784, random_H1 = 1.000)),
               inclusion_BF = 9.851, inclusion_posterior_probability = 0.908,
               prior_model_probabilities = c(fixed_H0 = 0.25, fixed_H1 = 0.25, random_H0 = 0.25, random_H1 = 0.25),
               posterior_model_probabilities = c(fixed_H0 = 0.0278, fixed_H1 = 0.6644, random_H0 = 0.0643, random_H1 = 0.2434),
               logml = c(fixed_H0 = -5.58, fixed_H1 = -2.40, random_H0 = -4.74, random_H1 = -3.41),
               d = list(averaged = c(mean = 0.208, sd = 0.079, q025 = 0.046, q500 = 0.208, q975 = 0.366, hpd95_lower = 0.042, hpd95_upper = 0.361),
                        fixed = c(mean = 0.218, sd = 0.072, q025 = 0.077, q500 = 0.216, q975 = 0.360, hpd95_lower = 0.085, hpd95_upper = 0.367),
                        random = c(mean = 0.195, sd = 0.092, q025 = 0.018, q500 = 0.194, q975 = 0.382, hpd95_lower = 0.005, hpd95_upper = 0.352)),
               note = paste("printed to 2-4 digits; fixed/random d summaries here are Stan-sample based,",
                            "the averaged row is integrate-based; BF/logml from integrate (rel.tol=.1) / bridge sampling"))),
  test_scheibehenne2017 = list(
    file = "tests/testthat/test_scheibehenne2017.R",
    priors = "d: prior('norm', c(mean=0, sd=0.3), lower=0); tau: prior('t', c(location=0, scale=1/4, nu=1), lower=0) (lines 16-24)",
    call = "meta_bma(y=logOR, SE=SE, data=towels, d=prior_d, tau=prior_tau, iter=1500, logml_iter=2000, rel.tol=.1, summ='stan') (lines 28-32, set.seed(123))",
    expected = list(
      BF_fixed_H1_over_random_H1 = list(value = 2.450923, tolerance = 0.03, line = 35),
      BF_random_H1_over_random_H0 = list(value = 4.055704, tolerance = 0.01, line = 36),
      BF_fixed_H1_over_fixed_H0 = list(value = 23.88449, tolerance = 0.01, line = 37),
      inclusion_BF = list(value = 9.882879, tolerance = 0.01, line = 38)),
    estimation = list(
      call = "meta_bma(..., d = prior('norm', c(mean=0, sd=0.3)) [unrestricted], tau = prior_tau, iter=1500, logml_iter=1000, rel.tol=.1, summ='stan') (lines 57-63)",
      expected = list(
        mean_fixed = list(value = 0.2116763, tolerance = 0.01, line = 50),
        mean_random = list(value = 0.1848269, tolerance = 0.01, line = 51),
        mean_averaged = list(value = 0.2033756, tolerance = 0.01, line = 52),
        hpd95_fixed = list(value = I(c(0.063656, 0.3623073)), tolerance = 0.03, line = 53),
        hpd95_random = list(value = I(c(-0.02162486, 0.38411546)), tolerance = 0.03, line = 54),
        hpd95_averaged = list(value = I(c(0.03867814, 0.37240522)), tolerance = 0.03, line = 55))),
    tolerance_semantics = "testthat expect_equal(tolerance=) = mean relative difference |a-b|/|b|"),
  other_tests = list(
    "tests/testthat/test_integrate.R" = "towels: consistency checks only (stan vs integrate), tolerances .005-.03; no absolute numbers",
    "tests/testthat/test_sensitivity.R" = "towels: meta_sensitivity runs, no numbers",
    "man/meta_bma.Rd:125-131" = "example meta_bma(logOR, SE, study, towels, d = prior('norm', c(mean=0, sd=.3), lower=0), tau = prior('invgamma', c(shape=1, scale=0.15))) -- no printed numbers; exact values under exact$man_example_invgamma",
    "R/meta_bma.R:102-103" = "meta_bma defaults: d = prior('cauchy', c(location=0, scale=0.707)), tau = prior('invgamma', c(shape=1, scale=0.15))"))

out <- list(
  source = list(
    r_version = R.version.string, script = "tests/reference/metabma_towels.R",
    helper = "tests/reference/bayesmeta_common.R (nn_logL, nn_cond, JSON writer)",
    metaBMA_version = "0.6.9 (github:cran/metaBMA snapshot; DESCRIPTION Version: 0.6.9)",
    metaBMA_installed = FALSE,
    data_origin = "metaBMA data/towels.RData, loaded with load(); rows in the stored order",
    exact_method = paste("integrate() on tau with rel.tol=1e-12; d integrated analytically (Gaussian algebra,",
                         "truncation via Phi(muhat/sqrt(V))/Phi(m0/s0)); logml = log p(y|M) including all",
                         "normalising constants; BF_row_over_column[i][j] = p(y|M_i)/p(y|M_j); the averaged d",
                         "posterior = mixture of fixed_H1 and random_H1 posteriors weighted by their posterior",
                         "probabilities renormalised within H1 (as metaBMA::bma(), R/bma.R:85-91)"),
    priors_metaBMA_semantics = paste("prior('norm', c(mean, sd), lower=0) = normal truncated to [0,Inf);",
                                     "prior('t', c(location, scale, nu), lower=0) = scaled Student-t truncated (nu=1: half-Cauchy);",
                                     "prior('invgamma', c(shape, scale)) = inverse-gamma density on tau: scale^shape/Gamma(shape) tau^(-shape-1) exp(-scale/tau)"),
    date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")),
  data = list(study = towels$study, logOR = towels$logOR, SE = towels$SE),
  published = published,
  exact = exact)
write_json_file(out, file.path(here, "metabma_towels.json"))

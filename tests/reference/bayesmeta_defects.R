# Regenerates bayesmeta_defects.json: regression references for three accuracy
# problem areas (bounded uniform tau prior; Rhodes log-t priors at small k; heavy-tailed
# half-Cauchy priors at k = 1, 2), each computed twice:
#   * `R`: R bayesmeta() at tight settings (delta=1e-5, epsilon=1e-10), as R reports it;
#   * `independent`: direct integrate() (rel.tol=1e-12) from the normal-normal formulas
#     (see indep_nn() in bayesmeta_common.R), not using bayesmeta at all.
# Run from the repo root:  Rscript tests/reference/bayesmeta_defects.R
suppressMessages({library(bayesmeta)})
here <- local({
  a <- commandArgs(trailingOnly = FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")})
source(file.path(here, "bayesmeta_common.R"))

DELTA <- 1e-5; EPSILON <- 1e-10
PROBS <- c(0.025, 0.5, 0.975)
QN <- c("q025", "q500", "q975")
TIME_LIMIT <- 900   # seconds per R fit

schools <- list(y = c(28, 8, -3, 7, -1, 1, 18, 12), sigma = c(15, 10, 16, 11, 9, 11, 10, 18), labels = LETTERS[1:8])
small <- list(y = schools$y / 10, sigma = schools$sigma / 10, labels = LETTERS[1:8])

r_fit <- function(y, sigma, labels, tau.prior, mu.mean, mu.sd, tau_pts, rel.tol.integrate = 2^16 * .Machine$double.eps,
                  delta = DELTA, epsilon = EPSILON) {
  warns <- character(0)
  t0 <- proc.time()[["elapsed"]]
  fit <- tryCatch({
    setTimeLimit(elapsed = TIME_LIMIT, transient = TRUE)
    withCallingHandlers(
      bayesmeta(y = y, sigma = sigma, labels = labels, tau.prior = tau.prior,
                mu.prior.mean = mu.mean, mu.prior.sd = mu.sd, delta = delta, epsilon = epsilon,
                rel.tol.integrate = rel.tol.integrate),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  }, error = function(e) e)
  setTimeLimit(elapsed = Inf)
  el <- proc.time()[["elapsed"]] - t0
  if (inherits(fit, "error")) return(list(R_error = conditionMessage(fit), warnings = I(warns), fit_seconds = el,
    settings = list(delta = delta, epsilon = epsilon, rel.tol.integrate = rel.tol.integrate),
    R_error_note = "bayesmeta() itself stopped with this error; see R_fallbacks (retries, first success last)"))
  r <- list(fit_seconds = el, warnings = I(warns), n_support = nrow(fit$support))
  r$summary <- mat_cols(fit$summary)
  q <- function(...) { v <- tryCatch(fit$qposterior(...), error = function(e) rep(NA_real_, 3)); names(v) <- QN; v }
  r$quantiles <- list(tau = q(tau.p = PROBS), mu = q(mu.p = PROBS), theta_new = q(mu.p = PROBS, predict = TRUE))
  r$moments_R_summary <- list(
    tau = c(mean = fit$summary["mean", "tau"], sd = fit$summary["sd", "tau"]),
    mu = c(mean = fit$summary["mean", "mu"], sd = fit$summary["sd", "mu"]),
    theta_new = c(mean = fit$summary["mean", "theta"], sd = fit$summary["sd", "theta"]))
  e2 <- tryCatch(integrate(function(t) t^2 * fit$dposterior(tau = t), 0, Inf, rel.tol = 1e-12),
                 error = function(e) e)
  r$E_tau2_R_integrate <- if (inherits(e2, "error")) paste("integrate error:", conditionMessage(e2)) else
    list(value = e2$value, abs.error = e2$abs.error, message = e2$message,
         call = "integrate(function(t) t^2*fit$dposterior(tau=t), 0, Inf, rel.tol=1e-12)")
  ml <- fit$marginal.likelihood
  r$marginal_likelihood <- as.numeric(ml)
  r$log_marginal_likelihood <- log(as.numeric(ml))
  if (!is.null(attr(ml, "NA.reason"))) r$marginal_likelihood_NA_reason <- attr(ml, "NA.reason")
  r$tau_prior_proper_R <- fit$tau.prior.proper
  r$tau_prior_integral_R <- environment(fit$dprior)$tau.prior.integral
  r$tau_density <- list(tau = I(tau_pts), value = I(fit$dposterior(tau = tau_pts)))
  r$MAP <- mat_rows(fit$MAP)
  r$settings <- list(delta = delta, epsilon = epsilon, rel.tol.integrate = rel.tol.integrate)
  r
}
FALLBACKS <- list(
  list(note = "same call with rel.tol.integrate=1e-10 (R default 2^16*eps ~ 1.46e-11)", rel.tol.integrate = 1e-10),
  list(note = "same call with rel.tol.integrate=1e-8", rel.tol.integrate = 1e-8),
  list(note = "R default accuracy: delta=0.01, epsilon=1e-4, default rel.tol.integrate",
       delta = 0.01, epsilon = 1e-4))
r_fit_fb <- function(...) {
  r <- r_fit(...)
  if (!is.null(r$R_error)) {   # retry chain; stop at the first success
    r$R_fallbacks <- list()
    for (fb in FALLBACKS) {
      a <- fb[setdiff(names(fb), "note")]
      rr <- do.call(r_fit, c(list(...), a))
      rr$note <- fb$note
      r$R_fallbacks[[length(r$R_fallbacks) + 1]] <- rr
      if (is.null(rr$R_error)) break
    }
  }
  r
}

ind_fit <- function(y, sigma, logprior, mu.mean, mu.sd, upper = Inf, tau_pts, divergent = character(0)) {
  r <- tryCatch(indep_nn(y, sigma, logprior, mu.mean, mu.sd, upper = upper, tau_pts = tau_pts),
                error = function(e) list(error = conditionMessage(e)))
  if (length(divergent)) {
    r$numeric_attempt_for_divergent <- r[intersect(divergent, names(r))]
    for (nm in divergent) r[[nm]] <- "Inf"
    r$divergent_analytic <- I(divergent)
  }
  r$log_marginal_likelihood <- if (is.na(mu.mean)) "undefined (flat mu prior)" else r$log_Z
  r
}

jobs <- list()   # name -> function() returning the case record
# ---------------- (a) Uniform(0, U) tau prior, eight schools ----------------
U_SWEEP <- c(5, 7.5, 10, 12.5, 15, 20, 30, 50)
for (mup in list(list(NA, NA, "flat"), list(0, 100, "normal_0_100"))) {
  for (U in U_SWEEP) {
    nm <- sprintf("uniform_U%s_mu_%s", format(U), mup[[3]])
    jobs[[nm]] <- local({ U <- U; mup <- mup; function() {
    prior <- function(t) dunif(t, 0, U)
    cl <- sprintf("bayesmeta(y, sigma, tau.prior=function(t) dunif(t, 0, %s)%s, delta=%g, epsilon=%g)", format(U),
                  if (is.na(mup[[1]])) "" else sprintf(", mu.prior.mean=%g, mu.prior.sd=%g", mup[[1]], mup[[2]]), DELTA, EPSILON)
    tp <- c(1, U / 2, 0.9 * U)
    rec <- list(set = "a_uniform_tau_prior", data = "eight_schools", U = U,
                tau_prior = sprintf("Uniform(0, %s)", format(U)),
                mu_prior = if (is.na(mup[[1]])) "flat" else list(type = "normal", mean = mup[[1]], sd = mup[[2]]),
                call = cl)
    rec$R <- r_fit_fb(schools$y, schools$sigma, schools$labels, prior, mup[[1]], mup[[2]], tp)
    rec$independent <- ind_fit(schools$y, schools$sigma, function(t) dunif(t, 0, U, log = TRUE),
                               mup[[1]], mup[[2]], upper = U, tau_pts = tp)
    rec }})
  }
}

# ---------------- (b) Rhodes et al. (2015) log-t prior ----------------
rh <- RhodesEtAlPrior()   # general ("any") setting
rhodes_info <- list(call = "RhodesEtAlPrior()",
                    parameters = mat_rows(rh$parameters),
                    outcome.type = rh$outcome.type, comparison.type = rh$comparison.type,
                    medical.area = rh$medical.area,
                    dprior_definition = paste(deparse(rh$dprior), collapse = "\n"),
                    dprior_at_0.1_0.5_1 = I(rh$dprior(c(0.1, 0.5, 1))),
                    formula = paste("log(tau) ~ t_5(location=-1.72, scale=1.295): p(tau) =",
                                    "dt((log(tau)+1.72)/1.295, df=5) / (1.295*tau)  [log(tau^2) = -3.44 + 2.59*t_5]"))
rh_logprior <- function(t) dt((log(t) + 1.72) / 1.295, df = 5, log = TRUE) - log(1.295) - log(t)
for (k in 2:3) {
  nm <- sprintf("rhodes_any_k%d", k)
  jobs[[nm]] <- local({ k <- k; function() {
  y <- small$y[1:k]; s <- small$sigma[1:k]
  cl <- sprintf("bayesmeta(y, sigma, tau.prior=RhodesEtAlPrior()$dprior, mu.prior.mean=0, mu.prior.sd=4, delta=%g, epsilon=%g)", DELTA, EPSILON)
  tp <- c(0.1, 0.5, 1)
  rec <- list(set = "b_rhodes_logt", data = list(y = I(y), sigma = I(s), labels = I(small$labels[1:k]),
              note = sprintf("first %d eight-schools studies, y and sigma divided by 10", k)),
              tau_prior = "RhodesEtAlPrior()$dprior (log-t5, tau location -1.72, scale 1.295)",
              mu_prior = list(type = "normal", mean = 0, sd = 4), call = cl)
  rec$R <- r_fit_fb(y, s, small$labels[1:k], rh$dprior, 0, 4, tp)
  rec$independent <- ind_fit(y, s, rh_logprior, 0, 4, tau_pts = tp)
  rec }})
}

# ---------------- (c) half-Cauchy(scale=1) heavy tails ----------------
hc_logprior <- function(t) dhalfcauchy(t, scale = 1, log = TRUE)
hc_specs <- list(
  halfcauchy_k1_mu_normal = list(k = 1, mm = 0, ms = 4,
    div = c("E_tau2", "sd_tau", "sd_theta_new"),
    why = "p(tau|y) ~ tau^-3 (prior tau^-2 x L(tau) ~ tau^-1): E[tau] finite, E[tau^2] = Inf; theta_new var = Inf"),
  halfcauchy_k2_mu_normal = list(k = 2, mm = 0, ms = 4, div = character(0),
    why = "p(tau|y) ~ tau^-4: E[tau], E[tau^2] finite (E[tau^3] = Inf)"),
  halfcauchy_k1_mu_flat = list(k = 1, mm = NA, ms = NA,
    div = c("E_tau", "E_tau2", "sd_tau", "E_mu", "sd_mu", "E_theta_new", "sd_theta_new"),
    why = paste("flat mu, k=1: L(tau) = 1, so p(tau|y) = half-Cauchy prior: E[tau] = Inf; mu|y is a",
                "scale mixture N(y, sigma^2+tau^2) with E|mu| = Inf: mean/sd of mu and theta_new undefined")))
for (nm in names(hc_specs)) {
  jobs[[nm]] <- local({ sp <- hc_specs[[nm]]; function() {
  k <- sp$k
  y <- small$y[1:k]; s <- small$sigma[1:k]
  cl <- sprintf("bayesmeta(y, sigma, tau.prior=function(t) dhalfcauchy(t, scale=1)%s, delta=%g, epsilon=%g)",
                if (is.na(sp$mm)) "" else sprintf(", mu.prior.mean=%g, mu.prior.sd=%g", sp$mm, sp$ms), DELTA, EPSILON)
  tp <- c(0.1, 0.5, 2)
  rec <- list(set = "c_heavy_tails", data = list(y = I(y), sigma = I(s), labels = I(small$labels[1:k]),
              note = sprintf("first %d eight-schools studies, y and sigma divided by 10", k)),
              tau_prior = "half-Cauchy(scale=1): dhalfcauchy(t, scale=1)",
              mu_prior = if (is.na(sp$mm)) "flat" else list(type = "normal", mean = sp$mm, sd = sp$ms),
              call = cl, analytic_tail_behaviour = sp$why)
  rec$R <- r_fit_fb(y, s, small$labels[1:k], function(t) dhalfcauchy(t, scale = 1), sp$mm, sp$ms, tp)
  rec$independent <- ind_fit(y, s, hc_logprior, sp$mm, sp$ms, tau_pts = tp, divergent = sp$div)
  rec }})
}

NCORES <- as.integer(Sys.getenv("BM_CORES", "3"))
res <- parallel::mclapply(names(jobs), function(nm) { r <- jobs[[nm]](); cat(nm, "done\n"); r },
                          mc.cores = NCORES, mc.preschedule = FALSE)
names(res) <- names(jobs)
for (nm in names(res)) if (inherits(res[[nm]], "try-error")) stop(paste("job failed:", nm, res[[nm]]))
cases <- res
calls <- vapply(names(cases), function(nm) paste0(nm, ": ", cases[[nm]]$call), "")

out <- list(
  source = source_block("bayesmeta_defects.R", calls = unname(calls),
    accuracy = list(delta = DELTA, epsilon = EPSILON, rel.tol.integrate = 2^16 * .Machine$double.eps,
                    independent_rel_tol = 1e-12, R_fit_time_limit_seconds = TIME_LIMIT),
    notes = paste(
      "Each case has `R` (bayesmeta as reported, incl. warnings and tau_prior_integral_R, the constant R",
      "divides the prior by after its numerical properness check) and `independent` (integrate() at",
      "rel.tol=1e-12 on u=log(tau) of p(tau) L(tau), with L the normal-normal likelihood with mu",
      "integrated out analytically; see bayesmeta_common.R::indep_nn and bayesmeta_priors_definitions.md).",
      "independent$log_Z = log int p(tau) L(tau) dtau = log marginal likelihood when both priors are proper.",
      "Moments that diverge analytically are given as \"Inf\" (numeric_attempt_for_divergent keeps what",
      "integrate() returned). Quantiles q025/q500/q975; theta_new = predictive for a new study.",
      "When bayesmeta() errors at the tight settings, R.R_error holds the message and R.R_fallbacks the",
      "retries (rel.tol.integrate 1e-10, then 1e-8, then R default delta/epsilon), stopping at the first success.",
      "R E_tau2 uses integrate(function(t) t^2*dposterior(tau=t), 0, Inf, rel.tol=1e-12).")),
  rhodes_prior = rhodes_info,
  eight_schools = schools,
  cases = cases)
write_json_file(out, file.path(here, "bayesmeta_defects.json"))

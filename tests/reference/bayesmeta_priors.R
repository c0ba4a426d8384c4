# Regenerates bayesmeta_priors.json: R bayesmeta() with its named (improper /
# reference / data-dependent) tau priors on the Crins (2014) and eight-schools data,
# plus independent integrate() (rel.tol=1e-12) values from the written-out formulas.
# Run from the repo root:  Rscript tests/reference/bayesmeta_priors.R
# Needs: r-base-core, r-cran-metafor, r-cran-mvtnorm, r-cran-numderiv (Debian) and
# R packages forestplot + bayesmeta installed from github:cran/{forestplot,bayesmeta}.
suppressMessages({library(bayesmeta); library(metafor)})
here <- local({
  a <- commandArgs(trailingOnly = FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")})
source(file.path(here, "bayesmeta_common.R"))

DELTA <- 1e-5; EPSILON <- 1e-10
PROBS <- c(0.025, 0.5, 0.975)
QN <- c("q025", "q500", "q975")
PRIORS <- c("uniform", "Jeffreys", "overallJeffreys", "BergerDeely", "conventional",
            "DuMouchel", "shrinkage", "I2", "sqrt")

# ---- data ----
crins_counts <- data.frame(
  study = c("Heffron 2003", "Gibelli 2004", "Schuller 2005", "Ganschow 2005", "Spada 2006", "Gras 2008"),
  ev_t = c(14, 16, 3, 9, 4, 0), n_t = c(61, 28, 18, 54, 36, 50),
  ev_c = c(15, 19, 8, 29, 11, 3), n_c = c(20, 28, 12, 54, 36, 34))
crins <- escalc(measure = "OR", ai = ev_t, n1i = n_t, ci = ev_c, n2i = n_c, data = crins_counts)
datasets <- list(
  crins = list(y = as.numeric(crins$yi), sigma = sqrt(as.numeric(crins$vi)), labels = crins_counts$study,
               tau_pts = c(0.2, 0.5, 1.0), mu_pts = c(-2.0, -1.5, -1.0), p_tau_pts = c(0.2, 1.0),
               joint_pts = list(c(0.2, -1.5), c(0.5, -1.6), c(1.0, -1.0)),
               description = paste("Crins et al. (2014) acute rejection, log odds ratio (treatment vs control);",
                                   "escalc(measure='OR', ai=ev_t, n1i=n_t, ci=ev_c, n2i=n_c) (0.5 added to all cells",
                                   "of studies with a zero cell: metafor default add=1/2, to='only0')"),
               counts = as.list(crins_counts)),
  eight_schools = list(y = c(28, 8, -3, 7, -1, 1, 18, 12), sigma = c(15, 10, 16, 11, 9, 11, 10, 18),
                       labels = LETTERS[1:8],
                       tau_pts = c(2, 5, 10), mu_pts = c(0, 8, 15), p_tau_pts = c(0.2, 5),
                       joint_pts = list(c(2, 8), c(5, 8), c(10, 0)),
                       description = "Rubin (1981) eight schools SAT coaching: y, sigma"))
settings <- list(
  crins_flat = list(data = "crins", mu.mean = NA, mu.sd = NA),
  crins_normal = list(data = "crins", mu.mean = 0, mu.sd = 4),
  eight_schools_flat = list(data = "eight_schools", mu.mean = NA, mu.sd = NA))

# ---- independent implementations of the named priors (formulas as in the .md note) ----
prior_fun <- function(name, sigma) {
  k <- length(sigma); s2 <- sigma^2
  s02 <- k / sum(1 / s2); s0 <- sqrt(s02)
  sigma2hat <- (k - 1) * sum(1 / s2) / (sum(1 / s2)^2 - sum(1 / s2^2))
  switch(name,
    uniform         = function(t) 1,
    Jeffreys        = function(t) t * sqrt(sum(1 / (s2 + t^2)^2)),
    overallJeffreys = function(t) t * sqrt(sum(1 / (s2 + t^2)) * sum(1 / (s2 + t^2)^2)),
    BergerDeely     = function(t) t * exp(-sum(log(s2 + t^2)) / k),
    conventional    = function(t) t * exp(-(3 / (2 * k)) * sum(log(s2 + t^2))),
    DuMouchel       = function(t) s0 / (s0 + t)^2,
    shrinkage       = function(t) 2 * t * s02 / (s02 + t^2)^2,
    I2              = function(t) 2 * sigma2hat * t / (sigma2hat + t^2)^2,
    sqrt            = function(t) t^(-0.5))
}
prior_constants <- function(sigma) {
  k <- length(sigma); s2 <- sigma^2
  list(k = k, s02_harmonic_mean_sigma2 = k / sum(1 / s2), s0 = sqrt(k / sum(1 / s2)),
       sigma2hat_HigginsThompson = (k - 1) * sum(1 / s2) / (sum(1 / s2)^2 - sum(1 / s2^2)))
}

CLOSURE_VARS <- list(
  uniform = "none", Jeffreys = "sigma (study standard errors)", overallJeffreys = "sigma",
  BergerDeely = "sigma, k = length(y)", conventional = "sigma, k",
  I2 = "sigma2hat <- (k-1)*sum(1/sigma^2) / (sum(1/sigma^2)^2 - sum(1/sigma^4))  # Higgins & Thompson (2002) eqn. 9",
  sqrt = "none",
  shrinkage = "s02 <- k/sum(1/sigma^2)  # harmonic mean of sigma^2",
  DuMouchel = "s02 <- k/sum(1/sigma^2); s0 <- sqrt(s02)")
FORMULAS <- list(
  uniform = "p(t) = 1 (t >= 0), improper",
  Jeffreys = "p(t) = sqrt( sum_i (t/(sigma_i^2+t^2))^2 ), improper",
  overallJeffreys = "p(t) = sqrt( sum_i 1/(sigma_i^2+t^2) * sum_i (t/(sigma_i^2+t^2))^2 ), improper",
  BergerDeely = "p(t) = t * prod_i (sigma_i^2+t^2)^(-1/k), improper",
  conventional = "p(t) = t * prod_i (sigma_i^2+t^2)^(-3/(2k)), proper but unnormalised (R normalises numerically)",
  DuMouchel = "p(t) = s0/(s0+t)^2, s0 = sqrt(k / sum_i sigma_i^-2), proper (log-logistic)",
  shrinkage = "p(t) = 2 t s0^2/(s0^2+t^2)^2, s0^2 = k / sum_i sigma_i^-2, proper",
  I2 = "p(t) = 2 s2hat t/(s2hat+t^2)^2, s2hat = (k-1) sum sigma_i^-2 / ((sum sigma_i^-2)^2 - sum sigma_i^-4), proper",
  sqrt = "p(t) = t^(-1/2), improper")

fit_record <- function(fit, ds) {
  r <- list()
  r$summary <- mat_cols(fit$summary)      # tau / mu / theta: mode, median, mean, sd, 95% lower/upper (SHORTEST)
  r$summary_note <- "bayesmeta $summary; its 95% lower/upper are shortest intervals (interval.type default)"
  r$tau_prior_proper_R <- fit$tau.prior.proper
  r$tau_prior_integral_R <- environment(fit$dprior)$tau.prior.integral
  r$n_support <- nrow(fit$support)
  tq <- fit$qposterior(tau.p = PROBS); names(tq) <- QN
  mq <- fit$qposterior(mu.p = PROBS); names(mq) <- QN
  pq <- fit$qposterior(mu.p = PROBS, predict = TRUE); names(pq) <- QN
  r$quantiles <- list(tau = tq, mu = mq, theta_new = pq)
  iv <- function(...) I(as.numeric(fit$post.interval(...)))
  r$intervals95 <- list(
    tau = list(central = iv(tau.level = 0.95, method = "central"), shortest = iv(tau.level = 0.95, method = "shortest")),
    mu = list(central = iv(mu.level = 0.95, method = "central"), shortest = iv(mu.level = 0.95, method = "shortest")),
    theta_new = list(central = iv(mu.level = 0.95, predict = TRUE, method = "central"),
                     shortest = iv(mu.level = 0.95, predict = TRUE, method = "shortest")))
  r$moments <- list(
    tau = c(mean = fit$summary["mean", "tau"], sd = fit$summary["sd", "tau"]),
    mu = c(mean = fit$summary["mean", "mu"], sd = fit$summary["sd", "mu"]),
    theta_new = c(mean = fit$summary["mean", "theta"], sd = fit$summary["sd", "theta"]))
  r$MAP <- mat_rows(fit$MAP)
  r$ML <- mat_rows(fit$ML)
  r$shrinkage <- mat_cols(fit$theta)    # per study: y, sigma, mode, median, mean, sd, 95% lower, 95% upper
  r$shrinkage_order <- I(colnames(fit$theta))
  r$density <- list(
    tau = list(at = I(ds$tau_pts), value = I(fit$dposterior(tau = ds$tau_pts))),
    mu = list(at = I(ds$mu_pts), value = I(fit$dposterior(mu = ds$mu_pts))),
    theta_new = list(at = I(ds$mu_pts), value = I(fit$dposterior(mu = ds$mu_pts, predict = TRUE))),
    joint_tau_mu = lapply(ds$joint_pts, function(p) list(tau = p[1], mu = p[2],
                                                         value = fit$dposterior(tau = p[1], mu = p[2]))))
  r$cdf_tau <- list(at = I(ds$p_tau_pts), value = I(fit$pposterior(tau = ds$p_tau_pts)))
  r$P_tau_le_0.2 <- fit$pposterior(tau = 0.2)
  ml <- fit$marginal.likelihood
  r$marginal_likelihood <- as.numeric(ml)
  r$log_marginal_likelihood <- log(as.numeric(ml))
  if (!is.null(attr(ml, "NA.reason"))) r$marginal_likelihood_NA_reason <- attr(ml, "NA.reason")
  r$bayesfactor <- mat_rows(fit$bayesfactor)
  r
}

# one job per (setting, prior); run in parallel with parallel::mclapply (forked processes)
jobs <- expand.grid(prior = PRIORS, setting = names(settings), stringsAsFactors = FALSE)
run_job <- function(sn, pn) {
  st <- settings[[sn]]; ds <- datasets[[st$data]]
  cl <- sprintf("bayesmeta(y, sigma, labels, tau.prior=\"%s\"%s, delta=%g, epsilon=%g)", pn,
                if (is.na(st$mu.mean)) "" else sprintf(", mu.prior.mean=%g, mu.prior.sd=%g", st$mu.mean, st$mu.sd),
                DELTA, EPSILON)
  t0 <- proc.time()
  fit <- tryCatch(bayesmeta(y = ds$y, sigma = ds$sigma, labels = ds$labels, tau.prior = pn,
                            mu.prior.mean = st$mu.mean, mu.prior.sd = st$mu.sd,
                            delta = DELTA, epsilon = EPSILON),
                  error = function(e) e)
  el <- (proc.time() - t0)[["elapsed"]]
  rec <- list(call = cl, fit_seconds = el)
  def <- NULL
  if (inherits(fit, "error")) {
    rec$R_error <- conditionMessage(fit)
  } else {
    rec$R <- fit_record(fit, ds)
    pfun <- fit$tau.prior; attr(pfun, "bayesmeta.label") <- NULL
    pdef <- paste(deparse(pfun), collapse = "\n")
    def <- list(definition = pdef, R_label = attr(fit$tau.prior, "bayesmeta.label"),
                closure_variables = CLOSURE_VARS[[pn]], formula = FORMULAS[[pn]],
                R_improper_by_declaration = pn %in% c("uniform", "Jeffreys", "overallJeffreys", "BergerDeely", "sqrt"))
    rec$definition <- pdef
  }
  # independent reference (integrate, rel.tol 1e-12) from the written-out formulas
  pf <- prior_fun(pn, ds$sigma)
  proper <- !(pn %in% c("uniform", "Jeffreys", "overallJeffreys", "BergerDeely", "sqrt"))
  lognorm <- 0
  if (proper) {  # normalise numerically (only 'conventional' is not normalised analytically)
    pint <- integrate(function(u) vapply(u, function(uu) {
      t <- exp(uu); if (!is.finite(t) || t <= 0) 0 else pf(t) * t }, 0), -Inf, Inf,
      rel.tol = 1e-12, subdivisions = 2000L)$value
    lognorm <- log(pint)
  }
  ind <- tryCatch(indep_nn(ds$y, ds$sigma, function(t) log(pf(t)) - lognorm, st$mu.mean, st$mu.sd,
                           tau_pts = ds$tau_pts), error = function(e) list(error = conditionMessage(e)))
  ind$prior_integral <- if (proper) exp(lognorm) else "improper"
  ind$log_marginal_likelihood <- if (proper && !is.na(st$mu.mean)) ind$log_Z else
    "undefined (improper tau and/or mu prior)"
  ind$note <- paste("independent integrate() values, rel.tol=1e-12, from the formulas in",
                    "bayesmeta_priors_definitions.md (normal-normal marginal, mu integrated out analytically);",
                    "log_Z = log int p(tau) L(tau) dtau with the (unnormalised, if improper) prior")
  rec$independent <- ind
  cat(sn, pn, "fit", round(el, 1), "s\n")
  list(rec = rec, def = def)
}
NCORES <- as.integer(Sys.getenv("BM_CORES", "3"))
job_out <- parallel::mclapply(seq_len(nrow(jobs)), function(j) run_job(jobs$setting[j], jobs$prior[j]),
                              mc.cores = NCORES, mc.preschedule = FALSE)
prior_defs <- list()
results <- list()
calls <- character(0)
for (sn in names(settings)) {
  st <- settings[[sn]]; ds <- datasets[[st$data]]
  results[[sn]] <- list(data = st$data,
                        mu_prior = if (is.na(st$mu.mean)) "flat (improper uniform; bayesmeta default)"
                                   else list(type = "normal", mean = st$mu.mean, sd = st$mu.sd),
                        prior_constants = prior_constants(ds$sigma), priors = list())
}
for (j in seq_len(nrow(jobs))) {
  sn <- jobs$setting[j]; pn <- jobs$prior[j]; jo <- job_out[[j]]
  if (inherits(jo, "try-error")) stop(paste("job failed:", sn, pn, jo))
  results[[sn]]$priors[[pn]] <- jo$rec
  calls <- c(calls, paste0(sn, ": ", jo$rec$call))
  if (!is.null(jo$def) && !(pn %in% names(prior_defs))) prior_defs[[pn]] <- jo$def
}

out <- list(
  source = source_block("bayesmeta_priors.R", calls = calls,
    accuracy = list(delta = DELTA, epsilon = EPSILON, rel.tol.integrate = 2^16 * .Machine$double.eps,
                    independent_rel_tol = 1e-12,
                    note = paste("Crins uniform/flat: R at delta=1e-5/epsilon=1e-10 vs delta=1e-6/epsilon=1e-12 differs",
                                 "by <=3e-6 (mu sd), <=1e-6 (quantiles). The `independent` blocks are more accurate.")),
    notes = paste("Prior names are the canonical strings bayesmeta maps tau.prior to (matching is",
                  "case-insensitive via tolower + match.arg). Quantiles keyed q025/q500/q975.",
                  "theta_new = posterior predictive of a new study's effect (qposterior(..., predict=TRUE)).",
                  "Densities: dposterior(tau=), dposterior(mu=), dposterior(mu=, predict=TRUE), joint dposterior(tau=, mu=).",
                  "marginal_likelihood is on the likelihood scale; NA with NA_reason when a prior is improper.",
                  "tau_prior_integral_R: normalising constant R divides the prior by (1 unless R's numerical",
                  "properness check found an integral != 1).")),
  datasets = lapply(datasets, function(d) d[c("y", "sigma", "labels", "description",
                                               intersect("counts", names(d)))]),
  prior_definitions = prior_defs,
  results = results)
out$datasets$crins$vi <- as.numeric(crins$vi)
write_json_file(out, file.path(here, "bayesmeta_priors.json"))

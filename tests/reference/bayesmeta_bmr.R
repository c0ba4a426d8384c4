# Regenerates bayesmeta_bmr.json: R bayesmeta::bmr() meta-regression references
# on metafor's dat.bcg (log risk ratios), half-normal(scale=0.5) tau prior.
# Run from the repo root:  Rscript tests/reference/bayesmeta_bmr.R
# Needs: r-base-core, r-cran-metafor, r-cran-mvtnorm, r-cran-numderiv (Debian) and
# R packages forestplot + bayesmeta installed from github:cran/{forestplot,bayesmeta}.
suppressMessages({library(bayesmeta); library(metafor)})
here <- script_dir_boot <- local({
  a <- commandArgs(trailingOnly = FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")})
source(file.path(here, "bayesmeta_common.R"))

DELTA <- 1e-5; EPSILON <- 1e-10
PROBS <- c(0.025, 0.5, 0.975)
TAU_DENS_PTS <- c(0.1, 0.3, 0.5)

es <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
es$alloc <- factor(es$alloc)       # levels (alphabetical): alternate, random, systematic
labels <- paste0(es$author, " (", es$year, ")")
taup <- function(t) dhalfnormal(t, scale = 0.5)

data_block <- list(
  description = paste("metafor dat.bcg; escalc(measure='RR', ai=tpos, bi=tneg, ci=cpos, di=cneg);",
                      "yi = log risk ratio, vi = sampling variance, sigma = sqrt(vi)"),
  trial = es$trial, author = es$author, labels = labels, year = es$year,
  ablat = es$ablat, alloc = as.character(es$alloc),
  alloc_levels = levels(es$alloc),
  tpos = es$tpos, tneg = es$tneg, cpos = es$cpos, cneg = es$cneg,
  yi = as.numeric(es$yi), vi = as.numeric(es$vi), sigma = sqrt(as.numeric(es$vi)))

mixmoments <- function(fit, x, mean) {
  pm <- fit$pred.moments(x = x, mean = mean)
  w <- fit$support$weight
  m <- sum(w * pm[, "mean"])
  v <- sum(w * (pm[, "sd"]^2 + (pm[, "mean"] - m)^2))
  c(mean = m, sd = sqrt(v))
}

pred_block <- function(fit, x) {
  out <- list(x = I(as.numeric(x)))
  for (mn in c(TRUE, FALSE)) {
    q <- fit$qpredict(p = PROBS, x = x, mean = mn)
    names(q) <- c("q025", "q500", "q975")
    ci <- fit$pred.interval(level = 0.95, x = x, mean = mn, method = "central")
    si <- fit$pred.interval(level = 0.95, x = x, mean = mn, method = "shortest")
    mm <- mixmoments(fit, x, mn)
    out[[if (mn) "mean" else "prediction"]] <- list(
      quantiles = q, central95 = I(as.numeric(ci)), shortest95 = I(as.numeric(si)),
      mean = unname(mm["mean"]), sd = unname(mm["sd"]))
  }
  out
}

run_case <- function(name, formula, xpts, normal_prior, description) {
  X <- model.matrix(formula, data = es)
  attr(X, "assign") <- NULL; attr(X, "contrasts") <- NULL
  rownames(X) <- labels
  d <- ncol(X)
  args <- list(y = as.numeric(es$yi), sigma = sqrt(as.numeric(es$vi)), labels = labels, X = X,
               tau.prior = taup, delta = DELTA, epsilon = EPSILON)
  call_str <- sprintf("bmr(y=yi, sigma=sqrt(vi), labels=labels, X=model.matrix(%s, data=es), tau.prior=function(t) dhalfnormal(t, scale=0.5), delta=%g, epsilon=%g%s)",
                      deparse(formula), DELTA, EPSILON,
                      if (normal_prior) sprintf(", beta.prior.mean=rep(0,%d), beta.prior.sd=rep(10,%d)", d, d) else "")
  if (normal_prior) { args$beta.prior.mean <- rep(0, d); args$beta.prior.sd <- rep(10, d) }
  t0 <- proc.time()[["elapsed"]]
  fit <- do.call(bmr, args)
  t1 <- proc.time()[["elapsed"]]
  cat(name, "fit in", t1 - t0, "s\n")
  vars <- fit$variables
  res <- list(description = description, call = call_str,
              design_formula = deparse(formula),
              design_colnames_R = I(colnames(X)),
              design_colnames_bmr = I(vars),
              design_matrix = lapply(seq_len(d), function(j) as.numeric(X[, j])),
              beta_prior = if (normal_prior) list(type = "normal", mean = I(rep(0, d)), sd = I(rep(10, d)),
                                                  note = "independent N(0, 10^2) on every coefficient (beta.prior.sd=10)")
                           else list(type = "flat (improper uniform; bmr default, beta.prior.mean=NULL)"),
              tau_prior = "half-normal(scale=0.5): dhalfnormal(t, scale=0.5)",
              n_support = length(fit$support$weight),
              fit_seconds = t1 - t0)
  names(res$design_matrix) <- colnames(X)
  res$summary <- mat_cols(fit$summary)        # per parameter: mode, median, mean, sd, 95% lower/upper (shortest)
  # tau
  tq <- fit$qposterior(tau.p = PROBS); names(tq) <- c("q025", "q500", "q975")
  res$tau <- list(quantiles = tq,
                  mean = unname(fit$summary["mean", "tau"]), sd = unname(fit$summary["sd", "tau"]),
                  mode = unname(fit$summary["mode", "tau"]),
                  central95 = I(as.numeric(fit$post.interval(tau.level = 0.95, method = "central"))),
                  shortest95 = I(as.numeric(fit$post.interval(tau.level = 0.95, method = "shortest"))),
                  P_tau_le_0.1 = fit$pposterior(tau = 0.1), P_tau_le_0.3 = fit$pposterior(tau = 0.3),
                  density = list(tau = I(TAU_DENS_PTS), value = I(fit$dposterior(tau = TAU_DENS_PTS))))
  # betas
  res$beta <- list()
  for (i in seq_len(d)) {
    bq <- fit$qposterior(beta.p = PROBS, which.beta = i); names(bq) <- c("q025", "q500", "q975")
    res$beta[[colnames(X)[i]]] <- list(
      bmr_name = vars[i], index = i, quantiles = bq,
      mean = unname(fit$summary["mean", vars[i]]), sd = unname(fit$summary["sd", vars[i]]),
      mode = unname(fit$summary["mode", vars[i]]),
      central95 = I(as.numeric(fit$post.interval(beta.level = 0.95, which.beta = i, method = "central"))),
      shortest95 = I(as.numeric(fit$post.interval(beta.level = 0.95, which.beta = i, method = "shortest"))))
  }
  res$beta_covariance <- mat_rows(fit$beta.moments$covariance)
  res$MAP <- mat_rows(fit$MAP)
  res$ML <- mat_rows(fit$ML)
  ml <- fit$marginal.likelihood
  res$marginal_likelihood <- as.numeric(ml)
  res$log_marginal_likelihood <- log(as.numeric(ml))
  if (!is.null(attr(ml, "NA.reason"))) res$marginal_likelihood_NA_reason <- attr(ml, "NA.reason")
  res$bayesfactor <- mat_rows(fit$bayesfactor)
  # shrinkage estimates (per study): y, sigma, mode, median, mean, sd, 95% lower, 95% upper
  sh <- fit$theta
  res$shrinkage <- mat_cols(sh)
  res$shrinkage_quantiles <- lapply(seq_len(ncol(sh)), function(i) {
    q <- fit$qshrink(p = PROBS, which = i); names(q) <- c("q025", "q500", "q975"); q })
  names(res$shrinkage_quantiles) <- colnames(sh)
  res$shrinkage_order <- I(colnames(sh))
  # predictions
  res$predictions <- lapply(xpts, function(x) pred_block(fit, x))
  res
}

cases <- list()
ab <- list("ablat=20" = c(1, 20), "ablat=40" = c(1, 40), "ablat=55" = c(1, 55))
tr <- list(alternate = c(1, 0, 0), random = c(1, 1, 0), systematic = c(1, 0, 1))
sg <- list(alternate = c(1, 0, 0), random = c(0, 1, 0), systematic = c(0, 0, 1))
ay <- list("ablat=20,year=1950" = c(1, 20, 1950), "ablat=40,year=1965" = c(1, 40, 1965),
           "ablat=55,year=1980" = c(1, 55, 1980))
specs <- list(
  ablat_flat = list(~ ablat, ab, FALSE, "intercept + absolute latitude; flat beta prior"),
  ablat_normal = list(~ ablat, ab, TRUE, "intercept + absolute latitude; N(0,10^2) beta priors"),
  alloc_treatment_flat = list(~ alloc, tr, FALSE, "treatment coding, baseline 'alternate' (first level alphabetically); flat"),
  alloc_treatment_normal = list(~ alloc, tr, TRUE, "treatment coding, baseline 'alternate'; N(0,10^2) beta priors"),
  alloc_subgroup_flat = list(~ alloc - 1, sg, FALSE, "one mean per allocation group (~ alloc - 1); flat"),
  alloc_subgroup_normal = list(~ alloc - 1, sg, TRUE, "one mean per allocation group; N(0,10^2) beta priors"),
  ablat_year_flat = list(~ ablat + year, ay, FALSE, "intercept + ablat + year (raw calendar year, not centred); flat"),
  ablat_year_normal = list(~ ablat + year, ay, TRUE, "intercept + ablat + year (raw year); N(0,10^2) beta priors"))
for (nm in names(specs)) {
  s <- specs[[nm]]
  cases[[nm]] <- run_case(nm, s[[1]], s[[2]], s[[3]], s[[4]])
}

out <- list(
  source = source_block("bayesmeta_bmr.R",
    calls = vapply(cases, function(z) z$call, ""),
    accuracy = list(delta = DELTA, epsilon = EPSILON,
                    rel.tol.integrate = 2^16 * .Machine$double.eps,
                    note = "bmr(delta, epsilon) control the tau discretisation (mixture support); vs delta=1e-6, epsilon=1e-12 the ablat_flat summaries agree to <~3e-7 absolute"),
    notes = paste(
      "Column names: R model.matrix gives '(Intercept)', 'ablat', 'year', 'allocrandom', 'allocsystematic',",
      "'allocalternate'; bmr() passes them through make.names(), so bmr's own names are 'X.Intercept.' etc.",
      "(design_colnames_bmr). Keys of `beta` use the model.matrix names; `summary`, `MAP`, `ML`,",
      "`beta_covariance`, `bayesfactor` use bmr's names. alloc factor levels are alphabetical:",
      "alternate (baseline in treatment coding), random, systematic.",
      "`summary` 95% lower/upper are SHORTEST intervals (bmr default interval.type).",
      "predictions: `mean` = posterior of x'beta (qpredict/pred.interval with mean=TRUE), `prediction` =",
      "posterior predictive for a new study's theta at x (mean=FALSE, adds tau^2).",
      "Prediction mean/sd are exact moments of bmr's discrete normal mixture (support weights).",
      "Quantiles are keyed q025/q500/q975 = 2.5%/50%/97.5%. Marginal likelihood is on the",
      "likelihood scale (not log) in `marginal_likelihood`; only defined for the proper (normal) beta priors.",
      "shrinkage: bmr $theta table (per study: y, sigma, mode, median, mean, sd, 95% lower/upper shortest).")),
  data = data_block,
  cases = cases)
write_json_file(out, file.path(here, "bayesmeta_bmr.json"))

# Shared helpers for the bayesmeta_*.R reference scripts (sourced by them).
# Provides a canonical JSON writer (sorted keys, indent 1, like Python
# json.dumps(sort_keys=True, indent=1)) and the `source` block helper.
#
# Encoding conventions used in every bayesmeta_*.json file:
#  * numbers: shortest of %.15g/%.16g/%.17g that round-trips the R double exactly;
#  * non-finite numbers are written as the strings "Inf", "-Inf", "NaN", "NA";
#  * a length-1 vector is a scalar, a longer vector a list; a named vector is an
#    object keyed by its names (wrap with I() to force a list);
#  * keys are sorted (code-point order) at every level.

json_num <- function(x) {
  if (is.na(x) && !is.nan(x)) return("\"NA\"")
  if (is.nan(x)) return("\"NaN\"")
  if (is.infinite(x)) return(if (x > 0) "\"Inf\"" else "\"-Inf\"")
  for (d in 15:17) {
    s <- sprintf(paste0("%.", d, "g"), x)
    if (as.numeric(s) == x) break
  }
  s
}

json_str <- function(s) {
  if (is.na(s)) return("null")
  s <- enc2utf8(as.character(s))
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  s <- gsub("\t", "\\\\t", s)
  s <- gsub("\r", "\\\\r", s)
  paste0("\"", s, "\"")
}

json_scalar <- function(x) {
  if (is.logical(x)) return(if (is.na(x)) "null" else if (x) "true" else "false")
  if (is.numeric(x)) return(json_num(as.numeric(x)))
  json_str(x)
}

to_json <- function(x, indent = 0L) {
  pad  <- strrep(" ", indent + 1L)
  pad0 <- strrep(" ", indent)
  if (is.null(x)) return("null")
  if (is.function(x)) x <- paste(deparse(x), collapse = "\n")
  if (is.factor(x)) x <- as.character(x)
  if (is.matrix(x)) stop("convert matrices explicitly before to_json()")
  if (is.list(x)) {
    nm <- names(x)
    if (length(x) == 0) return(if (is.null(nm)) "[]" else "{}")
    if (is.null(nm)) {
      items <- vapply(x, to_json, "", indent = indent + 1L)
      return(paste0("[\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "]"))
    }
    stopifnot(!anyDuplicated(nm), all(nzchar(nm)))
    o <- order(nm, method = "radix")  # radix = C-locale (code-point) order
    items <- vapply(o, function(i) paste0(json_str(nm[i]), ": ", to_json(x[[i]], indent + 1L)), "")
    return(paste0("{\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "}"))
  }
  # atomic vector
  asis <- inherits(x, "AsIs")
  nm <- names(x)
  if (!is.null(nm)) {
    l <- as.list(unclass(x)); names(l) <- nm
    return(to_json(l, indent))
  }
  x <- unclass(x)
  if (length(x) == 1 && !asis) return(json_scalar(x))
  if (length(x) == 0) return("[]")
  items <- vapply(seq_along(x), function(i) json_scalar(x[i]), "")
  paste0("[\n", paste0(pad, items, collapse = ",\n"), "\n", pad0, "]")
}

# matrix -> object of rows (each row an object keyed by column names)
mat_rows <- function(m) {
  out <- lapply(seq_len(nrow(m)), function(i) { v <- as.numeric(m[i, ]); names(v) <- colnames(m); v })
  names(out) <- rownames(m)
  out
}
# matrix -> object of columns
mat_cols <- function(m) mat_rows(t(m))

write_json_file <- function(obj, path) {
  writeLines(to_json(obj), path, useBytes = TRUE)
  cat("wrote", path, "\n")
}

script_dir <- function() {
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")
}

pkg_versions <- function(pkgs = c("bayesmeta", "metafor", "forestplot", "mvtnorm", "numDeriv")) {
  v <- vapply(pkgs, function(p) tryCatch(as.character(packageVersion(p)), error = function(e) NA_character_), "")
  names(v) <- pkgs
  v
}

source_block <- function(script, calls, accuracy, notes = NULL) {
  list(r_version = R.version.string,
       package_versions = as.list(pkg_versions()),
       platform = R.version$platform,
       script = paste0("tests/reference/", script),
       helper = "tests/reference/bayesmeta_common.R",
       calls = I(calls),
       accuracy = accuracy,
       date = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
       bayesmeta_origin = "R package bayesmeta installed from github:cran/bayesmeta (CRAN mirror) via R CMD INSTALL",
       json_conventions = paste("sorted keys, indent 1; numbers at full double precision (shortest of %.15g/%.16g/%.17g that round-trips);",
                                "non-finite values as strings \"Inf\"/\"-Inf\"/\"NaN\"/\"NA\";",
                                "named R vectors become objects"),
       notes = notes)
}

############################################################################
# Independent normal-normal reference computations with integrate()
# (do NOT use bayesmeta; written straight from the model formulas).
#
# Model: y_i ~ N(theta_i, sigma_i^2), theta_i ~ N(mu, tau^2), mu ~ flat or N(m0, s0^2).
# Integrating mu out analytically, with v_i = sigma_i^2 + tau^2, w_i = 1/v_i
# (for a normal mu prior, append the pseudo-observation y_0 = m0, v_0 = s0^2):
#   muhat(tau) = sum w_i y_i / sum w_i,   V(tau) = 1 / sum w_i
#   log L(tau) = -1/2 [ (n-1) log(2 pi) + sum log v_i + sum w_i (y_i - muhat)^2 + log sum w_i ]
# (n = number of terms incl. the pseudo-observation). For a normal mu prior L(tau) is
# the exact marginal likelihood p(y | tau); for a flat mu prior it is int prod N(y_i|mu,v_i) dmu.
#   p(tau | y) = p(tau) L(tau) / Z,   Z = int_0^Inf p(tau) L(tau) dtau  (= p(y) if priors proper)
#   mu | tau, y ~ N(muhat, V);   theta_new | tau, y ~ N(muhat, V + tau^2)
# All tau integrals are done on u = log(tau) (integrand p(e^u) L(e^u) e^u), split at
# fixed offsets around the mode, with rel.tol = 1e-12.
############################################################################
nn_logL <- function(t, y, sigma, mu.mean = NA, mu.sd = NA) {
  v <- sigma^2 + t^2; yy <- y
  if (!is.na(mu.mean)) { v <- c(mu.sd^2, v); yy <- c(mu.mean, y) }
  w <- 1 / v; m <- sum(w * yy) / sum(w)
  -0.5 * ((length(yy) - 1) * log(2 * pi) + sum(log(v)) + sum(w * (yy - m)^2) + log(sum(w)))
}
nn_cond <- function(t, y, sigma, mu.mean = NA, mu.sd = NA) {
  v <- sigma^2 + t^2; yy <- y
  if (!is.na(mu.mean)) { v <- c(mu.sd^2, v); yy <- c(mu.mean, y) }
  w <- 1 / v
  c(mean = sum(w * yy) / sum(w), var = 1 / sum(w))
}

indep_nn <- function(y, sigma, logprior, mu.mean = NA, mu.sd = NA, upper = Inf,
                     probs = c(0.025, 0.5, 0.975), tau_pts = NULL, rel.tol = 1e-12,
                     moments = TRUE) {
  RT <- rel.tol
  logpost_u <- function(u) { t <- exp(u); logprior(t) + nn_logL(t, y, sigma, mu.mean, mu.sd) + u }
  uhi <- log(upper)
  op <- optimize(function(u) logpost_u(u), lower = -15, upper = min(10, uhi), maximum = TRUE, tol = 1e-10)
  umode <- op$maximum; cst <- op$objective
  g <- function(u) vapply(u, function(uu) {
    r <- if (is.finite(uu) && is.finite(exp(uu)) && exp(uu) > 0) exp(logpost_u(uu) - cst) else 0
    if (is.finite(r)) r else 0 }, 0)
  brk <- umode + c(-Inf, -12, -6, -3, -1.5, -0.5, 0, 0.5, 1.5, 3, 6, 12, Inf)
  ATOL <- 0
  pint <- function(f, lo, hi) {
    b <- sort(unique(c(lo, brk[brk > lo & brk < hi], hi)))
    tot <- 0; err <- 0
    for (j in seq_len(length(b) - 1)) {
      r <- tryCatch(integrate(f, b[j], b[j + 1], rel.tol = RT, abs.tol = ATOL, subdivisions = 2000L),
                    error = function(e) {
                      if (!grepl("roundoff", conditionMessage(e))) stop(e)
                      # piece is negligible / at machine precision: accept with looser rel.tol
                      integrate(f, b[j], b[j + 1], rel.tol = 1e-9, abs.tol = ATOL, subdivisions = 2000L)
                    })
      tot <- tot + r$value; err <- err + r$abs.error
    }
    c(value = tot, abs.error = err)
  }
  Zr <- pint(g, -Inf, uhi); Z <- Zr[["value"]]
  ATOL <- 1e-15 * Z   # absolute tolerance for CDF / moment pieces (relative to total mass)
  res <- list(log_Z = log(Z) + cst, Z_rel_error_estimate = Zr[["abs.error"]] / Z)
  Ftau <- function(q) if (q <= 0) 0 else if (q >= upper) 1 else pint(g, -Inf, log(q))[["value"]] / Z
  tq <- vapply(probs, function(p) {
    exp(uniroot(function(lu) Ftau(exp(lu)) - p, lower = umode - 30, upper = min(umode + 30, uhi),
                tol = 1e-13, maxiter = 2000)$root)
  }, 0)
  names(tq) <- sprintf("q%03d", round(probs * 1000))
  res$tau_quantiles <- tq
  if (!is.null(tau_pts))
    res$tau_density <- list(tau = I(tau_pts), value = I(vapply(tau_pts, function(t)
      if (t <= 0 || t > upper) NA_real_ else exp(logprior(t) + nn_logL(t, y, sigma, mu.mean, mu.sd) - cst) / Z, 0)))
  # moments of tau (NaN / error message when integral fails, i.e. divergent)
  mom <- function(fun) tryCatch(pint(function(u) { gu <- g(u); ifelse(gu > 0, gu * fun(u), 0) }, -Inf, uhi)[["value"]] / Z,
                                error = function(e) paste("integrate failed:", conditionMessage(e)))
  if (moments) {
    res$E_tau <- mom(function(u) exp(u))
    res$E_tau2 <- mom(function(u) exp(2 * u))
    if (is.numeric(res$E_tau) && is.numeric(res$E_tau2)) res$sd_tau <- sqrt(res$E_tau2 - res$E_tau^2)
    cm <- function(u) vapply(u, function(uu) nn_cond(exp(uu), y, sigma, mu.mean, mu.sd)[["mean"]], 0)
    cv <- function(u) vapply(u, function(uu) nn_cond(exp(uu), y, sigma, mu.mean, mu.sd)[["var"]], 0)
    res$E_mu <- mom(cm)
    Emu2 <- mom(function(u) cv(u) + cm(u)^2)
    if (is.numeric(res$E_mu) && is.numeric(Emu2)) res$sd_mu <- sqrt(Emu2 - res$E_mu^2)
    Eth2 <- mom(function(u) cv(u) + cm(u)^2 + exp(2 * u))
    res$E_theta_new <- res$E_mu
    if (is.numeric(res$E_mu) && is.numeric(Eth2)) res$sd_theta_new <- sqrt(Eth2 - res$E_mu^2)
  }
  # quantiles of mu and theta_new: F(x) = int p(tau|y) Phi((x - muhat)/sd) dtau
  Fx <- function(x, pred) pint(function(u) { gu <- g(u); gu * vapply(seq_along(u), function(j) {
    uu <- u[j]; if (gu[j] == 0) return(0)
    t <- exp(uu); if (!is.finite(t)) return(0); cc <- nn_cond(t, y, sigma, mu.mean, mu.sd)
    pnorm(x, cc[["mean"]], sqrt(cc[["var"]] + if (pred) t^2 else 0)) }, 0) }, -Inf, uhi)[["value"]] / Z
  qx <- function(p, pred) {
    c0 <- nn_cond(exp(umode), y, sigma, mu.mean, mu.sd); s <- sqrt(c0[["var"]] + exp(2 * umode))
    lo <- c0[["mean"]] - 2 * s; hi <- c0[["mean"]] + 2 * s
    while (Fx(lo, pred) > p) lo <- lo - 2 * (hi - lo)
    while (Fx(hi, pred) < p) hi <- hi + 2 * (hi - lo)
    uniroot(function(x) Fx(x, pred) - p, lower = lo, upper = hi, tol = 1e-12 * max(1, abs(hi - lo)), maxiter = 2000)$root
  }
  mq <- vapply(probs, qx, 0, pred = FALSE); names(mq) <- names(tq)
  pq <- vapply(probs, qx, 0, pred = TRUE);  names(pq) <- names(tq)
  res$mu_quantiles <- mq
  res$theta_new_quantiles <- pq
  res
}

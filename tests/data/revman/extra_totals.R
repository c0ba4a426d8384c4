# Pooled results for the outcomes of tests/data/revman/ that the real RevMan sample files
# (R meta's inst/extdata/Fleiss1993.*) do not contain: the subgroups of outcome 2.1 and the
# generic inverse-variance random-effects outcome 2.2. RevMan itself was not available, so
# these reference numbers are computed here with R metafor, following RevMan 5's documented
# algorithms (Mantel-Haenszel OR with Cochran's Q around the MH estimate, DerSimonian-Laird
# with inverse-variance weights, test for subgroup differences as Cochran's Q of the subgroup
# estimates); metafor reproduces the RevMan totals stored in the real sample files exactly
# (rma.mh Q = 9.946055983220074 = CHI2 of Fleiss1993.rm5). tests/data/make_revman_fixtures.py
# writes these numbers into the fixtures.
#
# Run from the repository root:  Rscript tests/data/revman/extra_totals.R
suppressMessages(library(metafor))

# Fleiss (1993): aspirin after myocardial infarction, deaths / randomised (aspirin, control)
d <- data.frame(
  study = c("MRC-1", "CDP", "MRC-2", "GASP", "PARIS", "AMIS", "ISIS-2"),
  year = c(1974, 1976, 1979, 1979, 1980, 1980, 1988),
  e1 = c(49, 44, 102, 32, 85, 246, 1570), n1 = c(615, 758, 832, 317, 810, 2267, 8587),
  e2 = c(67, 64, 126, 38, 52, 219, 1720), n2 = c(624, 771, 850, 309, 406, 2257, 8600))
d$late <- d$year >= 1980

z <- qnorm(0.975)
mh <- function(s) {
  m <- rma.mh(ai = s$e1, n1i = s$n1, ci = s$e2, n2i = s$n2, measure = "OR")
  df <- m$k - 1
  list(estimate = exp(m$beta[1]), ci_lower = exp(m$beta[1] - z * m$se),
       ci_upper = exp(m$beta[1] + z * m$se), log_estimate = m$beta[1], se = m$se,
       z = abs(m$zval), p_z = m$pval, q = m$QE, df = df, p_q = m$QEp,
       i2 = if (df > 0) max(0, 100 * (m$QE - df) / m$QE) else 0, tau2 = 0)
}
early <- mh(d[!d$late, ])
late <- mh(d[d$late, ])
between <- rma(yi = c(early$log_estimate, late$log_estimate), sei = c(early$se, late$se),
               method = "FE")
subgroups <- list(q_subgroups = between$QE, df_subgroups = 1, p_subgroups = between$QEp,
                  i2_subgroups = max(0, 100 * (between$QE - 1) / between$QE))

es <- escalc("OR", ai = e1, n1i = n1, ci = e2, n2i = n2, data = d)
dl <- rma(yi, vi, data = es, method = "DL")
giv <- list(estimate = exp(dl$beta[1]), ci_lower = exp(dl$ci.lb), ci_upper = exp(dl$ci.ub),
            log_estimate = dl$beta[1], se = dl$se, z = abs(dl$zval), p_z = dl$pval,
            q = dl$QE, df = dl$k - 1, p_q = dl$QEp, i2 = dl$I2, tau2 = dl$tau2)

out <- list(
  source = paste("tests/data/revman/extra_totals.R;", R.version.string,
                 "; metafor", as.character(packageVersion("metafor"))),
  `2.1.1` = early, `2.1.2` = late, `2.1` = subgroups, `2.2` = giv)
# JSON with 17 significant digits (jsonlite stops at 15)
to_json <- function(x, indent = "") {
  if (is.list(x)) {
    inner <- paste0(indent, "  ")
    items <- vapply(names(x), function(n) paste0(inner, '"', n, '": ', to_json(x[[n]], inner)), "")
    return(paste0("{\n", paste(items, collapse = ",\n"), "\n", indent, "}"))
  }
  if (is.character(x)) return(paste0('"', x, '"'))
  sprintf("%.17g", x)
}
writeLines(to_json(out), "tests/data/revman/extra_totals.json")

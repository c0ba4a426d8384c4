# Regenerates metafor_classical.json: classical pooled estimates from R metafor.
# Run: Rscript tests/reference/metafor_classical.R (Debian r-base-core r-cran-metafor)
suppressMessages(library(metafor)); library(jsonlite)
bcg <- transform(dat.bcg, ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg)
sets <- list(bcg = bcg, nielweise2007 = dat.nielweise2007)
out <- list(source = list(r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  calls = c("rma(yi, vi, method='FE')", "rma(yi, vi, method='DL')",
            "rma.mh(ai, n1i, ci, n2i, measure=m)", "rma(yi, sei=sei, method='FE'/'DL')"),
  fields = c("dl_Q = QE, dl_df = k - 1, dl_p = QEp (Cochran's Q test)",
             "dl_I2 in percent, as metafor reports it"),
  script = "tests/reference/metafor_classical.R"))
for (nm in names(sets)) {
  d <- sets[[nm]]
  rec <- list(events_t = d$ai, n_t = d$n1i, events_c = d$ci, n_c = d$n2i)
  for (m in c("OR", "RR")) {
    es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
    fe <- rma(yi, vi, data = es, method = "FE")
    dl <- rma(yi, vi, data = es, method = "DL")
    mh <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d, measure = m)
    rec[[m]] <- list(fe = c(fe$b, fe$ci.lb, fe$ci.ub), dl = c(dl$b, dl$ci.lb, dl$ci.ub),
                     dl_tau2 = dl$tau2, dl_I2 = dl$I2, dl_Q = dl$QE, dl_df = dl$k - 1,
                     dl_p = dl$QEp, mh = c(mh$b, mh$ci.lb, mh$ci.ub))
  }
  out[[nm]] <- rec
}
# One study with SE 1e-12 beside ordinary ones (weights 1e24 and ~25). metafor warns that
# the ratio of sampling variances is extreme and its Q (hence tau2, I2, the DL estimate)
# is inaccurate here: kept to document that; the Python tests check Q, tau2 and the DL
# estimate against an exact rational computation instead, and only the FE estimate here.
yi <- c(0.1, 0.5, -0.2, 0.3); sei <- c(1e-12, 0.2, 0.3, 0.25)
warn <- character(0)
fe <- withCallingHandlers(rma(yi, sei = sei, method = "FE"),
  warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
dl <- withCallingHandlers(rma(yi, sei = sei, method = "DL"),
  warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
out$tiny_se <- list(yi = yi, sei = sei, fe = c(fe$b, fe$ci.lb, fe$ci.ub),
  dl = c(dl$b, dl$ci.lb, dl$ci.ub), dl_tau2 = dl$tau2, dl_I2 = dl$I2, dl_Q = dl$QE,
  dl_df = dl$k - 1, dl_p = dl$QEp, metafor_warnings = unique(warn))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/metafor_classical.json")

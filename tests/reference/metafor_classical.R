# Regenerates metafor_classical.json: classical pooled estimates from R metafor.
# Run: Rscript tests/reference/metafor_classical.R (Debian r-base-core r-cran-metafor)
suppressMessages(library(metafor)); library(jsonlite)
bcg <- transform(dat.bcg, ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg)
sets <- list(bcg = bcg, nielweise2007 = dat.nielweise2007)
out <- list(source = list(r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  calls = c("rma(yi, vi, method='FE')", "rma(yi, vi, method='DL')",
            "rma.mh(ai, n1i, ci, n2i, measure=m)"),
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
                     dl_tau2 = dl$tau2, dl_I2 = dl$I2, mh = c(mh$b, mh$ci.lb, mh$ci.ub))
  }
  out[[nm]] <- rec
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/reference/metafor_classical.json")

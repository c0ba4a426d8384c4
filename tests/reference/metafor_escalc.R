# Regenerates metafor_escalc.json: reference effect sizes from R metafor's escalc().
# Run: Rscript tests/reference/metafor_escalc.R  (needs Debian r-base-core r-cran-metafor)
# The tests read the JSON only; they never need R.
suppressMessages(library(metafor))
library(jsonlite)

continuous <- list(
  normand1999 = dat.normand1999,
  curtis1998 = dat.curtis1998
)
crins2014 <- data.frame(
  study = c("Heffron 2003", "Gibelli 2004", "Schuller 2005", "Ganschow 2005", "Spada 2006", "Gras 2008"),
  ai = c(14, 16, 3, 9, 4, 0), n1i = c(61, 28, 18, 54, 36, 50),
  ci = c(15, 19, 8, 29, 11, 3), n2i = c(20, 28, 12, 54, 36, 34)
)
binary <- list(
  bcg = transform(dat.bcg, ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg),
  nielweise2007 = dat.nielweise2007,
  crins2014 = crins2014
)

out <- list(source = list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  call = "escalc(measure, ...) with defaults (vtype='LS', add=1/2, to='only0', drop00=FALSE)",
  script = "tests/reference/metafor_escalc.R",
  datasets = "metafor/metadat dat.normand1999, dat.curtis1998, dat.bcg, dat.nielweise2007; Crins et al. 2014 from shared/reference/README.md"
), continuous = list(), binary = list())

for (nm in names(continuous)) {
  d <- continuous[[nm]]
  study <- if (nm == "normand1999") as.character(d$source) else paste(d$paper, d$id, sep = "-")
  rec <- list(study = study,
              mean_t = d$m1i, sd_t = d$sd1i, n_t = d$n1i,
              mean_c = d$m2i, sd_c = d$sd2i, n_c = d$n2i, measures = list())
  for (m in c("MD", "SMD")) {
    es <- escalc(measure = m, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = d)
    rec$measures[[m]] <- list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
  }
  out$continuous[[nm]] <- rec
}
for (nm in names(binary)) {
  d <- binary[[nm]]
  study <- if (nm == "bcg") paste(d$author, d$year) else if (nm == "nielweise2007") paste(d$author, d$year) else d$study
  rec <- list(study = study, events_t = d$ai, n_t = d$n1i, events_c = d$ci, n_c = d$n2i, measures = list())
  for (m in c("OR", "RR", "RD")) {
    es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = d)
    rec$measures[[m]] <- list(yi = as.numeric(es$yi), vi = as.numeric(es$vi))
  }
  out$binary[[nm]] <- rec
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/metafor_escalc.json")

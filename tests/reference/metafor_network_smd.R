# Regenerates metafor_network_smd.json: SMD (Hedges' g) contrasts of multi-arm trials, their
# Gleser-Olkin covariance and a common-effect contrast-based network meta-analysis, in R.
# Run: Rscript tests/reference/metafor_network_smd.R (Debian r-base-core r-cran-metafor
# r-cran-jsonlite). The tests read the JSON only; they never need R.
#
# Each study's baseline is its first row (as in bayesmeta.network.data). For a study with k
# arms and N participants:
#   two arms:  escalc(measure = "SMD") (Hedges' g, vtype = "LS"), unchanged;
#   k >= 3:    sp = SD pooled over all k arms (N - k d.f.), yi = J(N - k) (m_j - m_b) / sp,
#              V = 1/n_b + yi yi' / (2 N), diag 1/n_j + 1/n_b + yi^2 / (2 N)
#              (Gleser & Olkin 2009, as metafor's own test of that chapter,
#              tests/testthat/test_analysis_example_gleser2009.r, builds it; J is metafor's
#              internal .cmicalc, the correction escalc applies).
suppressMessages(library(metafor)); library(jsonlite)

smd_study <- function(d) {
  k <- nrow(d); N <- sum(d$n)
  if (k == 2) {
    es <- escalc(measure = "SMD", m1i = d$mean[2], sd1i = d$sd[2], n1i = d$n[2],
                 m2i = d$mean[1], sd2i = d$sd[1], n2i = d$n[1])
    return(list(yi = as.numeric(es$yi), V = matrix(es$vi, 1, 1)))
  }
  sp <- sqrt(sum((d$n - 1) * d$sd^2) / (N - k))
  yi <- metafor:::.cmicalc(N - k) * (d$mean[-1] - d$mean[1]) / sp
  V <- 1 / d$n[1] + outer(yi, yi, "*") / (2 * N)
  diag(V) <- 1 / d$n[-1] + 1 / d$n[1] + yi^2 / (2 * N)
  list(yi = yi, V = V)
}

study_records <- function(dat) {
  lapply(split(dat, factor(dat$study, levels = unique(dat$study))), function(d) {
    r <- smd_study(d)
    list(study = d$study[1], arms = d$treatment, yi = r$yi, V = r$V)
  })
}

out <- list(source = list(
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  calls = c("escalc(measure='SMD', m1i, sd1i, n1i, m2i, sd2i, n2i) for two-arm studies",
            "Gleser-Olkin V with metafor:::.cmicalc(N - k) for multi-arm studies (see script)",
            "rma.mv(yi, V = bldiag(V_i), mods = X, intercept = FALSE) (common effect, no random)",
            "vcalc(vi, cluster, grp1, grp2, w1 = n_j, w2 = n_b) for equal means"),
  script = "tests/reference/metafor_network_smd.R",
  datasets = "metadat dat.senn2013 (HbA1c; Willms 1999 is the three-arm trial); two made-up trials"
))

# --- 1. dat.senn2013 as an SMD network, reference placebo -------------------------------
senn <- data.frame(study = dat.senn2013$study, treatment = dat.senn2013$treatment,
                   mean = dat.senn2013$mi, sd = dat.senn2013$sdi, n = dat.senn2013$ni)
recs <- study_records(senn)
trts <- sort(unique(senn$treatment)); trts <- c("placebo", setdiff(trts, "placebo"))
rows <- do.call(rbind, lapply(recs, function(r) {
  data.frame(study = r$study, trt = r$arms[-1], base = r$arms[1])
}))
X <- t(sapply(seq_len(nrow(rows)), function(i) {
  x <- setNames(numeric(length(trts) - 1), trts[-1])
  if (rows$trt[i] != "placebo") x[rows$trt[i]] <- x[rows$trt[i]] + 1
  if (rows$base[i] != "placebo") x[rows$base[i]] <- x[rows$base[i]] - 1
  x
}))
yi <- unlist(lapply(recs, `[[`, "yi"), use.names = FALSE)
V <- bldiag(lapply(recs, `[[`, "V"))
fit <- rma.mv(yi, V, mods = X, intercept = FALSE)
out$senn2013 <- list(
  arms = as.list(senn), studies = unname(recs), reference = "placebo",
  common_effect = list(names = colnames(X), b = as.numeric(fit$b), vb = unname(fit$vb))
)

# --- 2. a made-up four-arm trial (unequal n and SD) -------------------------------------
four <- data.frame(study = "four", treatment = c("c", "a", "b", "d"),
                   mean = c(10.0, 12.5, 8.0, 11.2), sd = c(4.0, 5.5, 3.2, 4.4),
                   n = c(25, 40, 18, 33))
out$four_arm <- list(arms = as.list(four), study = unname(study_records(four))[[1]])

# --- 3. equal means: g = 0, so V is 1/n_b off the diagonal, as vcalc's shared group -------
eq <- data.frame(study = "equal", treatment = c("p", "x", "y"), mean = c(3, 3, 3),
                 sd = c(1.0, 1.4, 0.8), n = c(30, 45, 22))
sp <- sqrt(sum((eq$n - 1) * eq$sd^2) / (sum(eq$n) - 3))
es <- escalc(measure = "SMD", m1i = eq$mean[-1], sd1i = rep(sp, 2), n1i = eq$n[-1],
             m2i = rep(eq$mean[1], 2), sd2i = rep(sp, 2), n2i = rep(eq$n[1], 2))
Vc <- vcalc(vi, cluster = rep(1, 2), grp1 = c(2, 3), grp2 = c(1, 1),
            w1 = eq$n[-1], w2 = rep(eq$n[1], 2), data = es)
out$equal_means <- list(arms = as.list(eq), yi = as.numeric(es$yi), V = unname(as.matrix(Vc)))

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor"),
           "tests/reference/metafor_network_smd.json")

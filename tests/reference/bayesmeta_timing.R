# Regenerates bayesmeta_timing.json: wall-clock and CPU time of R bayesmeta()/bmr().
# Run from the repo root:  Rscript tests/reference/bayesmeta_timing.R
# NOTE: timings depend on machine load; the load average at start/end is recorded.
suppressMessages({library(bayesmeta); library(metafor)})
here <- local({
  a <- commandArgs(trailingOnly = FALSE); f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f) == 1) dirname(normalizePath(f)) else normalizePath("tests/reference")})
source(file.path(here, "bayesmeta_common.R"))
REPEATS_DEFAULT <- 3L; REPEATS_TIGHT <- 1L
SEED <- 20240601L
loadavg <- function() tryCatch(readLines("/proc/loadavg"), error = function(e) NA_character_)
load_start <- loadavg()

timeit <- function(expr_fun, n) {
  cat("timing ...\n")
  el <- cpu <- numeric(n)
  for (i in seq_len(n)) {
    t0 <- proc.time(); expr_fun(); d <- proc.time() - t0
    el[i] <- d[["elapsed"]]; cpu[i] <- d[["user.self"]] + d[["sys.self"]]
  }
  list(repeats = n, elapsed_seconds = I(el), cpu_seconds = I(cpu),
       median_elapsed_seconds = median(el), median_cpu_seconds = median(cpu))
}

cr <- escalc(measure = "OR", ai = c(14, 16, 3, 9, 4, 0), n1i = c(61, 28, 18, 54, 36, 50),
             ci = c(15, 19, 8, 29, 11, 3), n2i = c(20, 28, 12, 54, 36, 34))
ycr <- as.numeric(cr$yi); scr <- sqrt(as.numeric(cr$vi))
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
Xb <- model.matrix(~ ablat, data = bcg)
hn <- function(t) dhalfnormal(t, scale = 0.5)

res <- list()
res$crins_default <- c(list(call = "bayesmeta(y, sigma, tau.prior='uniform')  # delta=0.01, epsilon=1e-4 (defaults)"),
  timeit(function() bayesmeta(ycr, scr), REPEATS_DEFAULT))
res$crins_halfnormal_default <- c(list(call = "bayesmeta(y, sigma, tau.prior=function(t) dhalfnormal(t, scale=0.5))"),
  timeit(function() bayesmeta(ycr, scr, tau.prior = hn), REPEATS_DEFAULT))
res$crins_tight <- c(list(call = "bayesmeta(y, sigma, tau.prior='uniform', delta=1e-5, epsilon=1e-10)"),
  timeit(function() bayesmeta(ycr, scr, delta = 1e-5, epsilon = 1e-10), REPEATS_TIGHT))
res$bcg_bmr_ablat_default <- c(list(call = "bmr(yi, sqrt(vi), X=model.matrix(~ablat), tau.prior=function(t) dhalfnormal(t, scale=0.5))"),
  timeit(function() bmr(as.numeric(bcg$yi), sqrt(as.numeric(bcg$vi)), X = Xb, tau.prior = hn), REPEATS_DEFAULT))
res$bcg_bmr_ablat_tight <- c(list(call = "bmr(..., X=model.matrix(~ablat), tau.prior=halfnormal(0.5), delta=1e-5, epsilon=1e-10)"),
  timeit(function() bmr(as.numeric(bcg$yi), sqrt(as.numeric(bcg$vi)), X = Xb, tau.prior = hn,
                        delta = 1e-5, epsilon = 1e-10), REPEATS_TIGHT))
set.seed(SEED)
for (k in c(10L, 30L, 100L)) {
  s <- runif(k, 0.1, 0.5); y <- rnorm(k, 0.2, sqrt(0.3^2 + s^2))
  res[[sprintf("simulated_k%d_default", k)]] <- c(list(
    call = "bayesmeta(y, s, tau.prior=function(t) dhalfnormal(t, scale=0.5))", k = k),
    timeit(function() bayesmeta(y, s, tau.prior = hn), if (k >= 100L) 1L else REPEATS_DEFAULT))
  if (k <= 10L)
    res[[sprintf("simulated_k%d_tight", k)]] <- c(list(
      call = "bayesmeta(y, s, tau.prior=function(t) dhalfnormal(t, scale=0.5), delta=1e-5, epsilon=1e-10)", k = k),
      timeit(function() bayesmeta(y, s, tau.prior = hn, delta = 1e-5, epsilon = 1e-10), REPEATS_TIGHT))
}
out <- list(
  source = source_block("bayesmeta_timing.R", calls = vapply(res, function(r) r$call, ""),
    accuracy = list(default = "delta=0.01, epsilon=1e-4", tight = "delta=1e-5, epsilon=1e-10"),
    notes = paste("Simulation: set.seed(", SEED, "); for k in 10, 30, 100 (sequentially from the same stream):",
                  "s <- runif(k, 0.1, 0.5); y <- rnorm(k, 0.2, sqrt(0.3^2 + s^2)).",
                  "k=100 default: 1 repeat; tight settings only for k=10 (bayesmeta() computes k x k",
                  "shrinkage-weight integrals, so large k is slow; k=30/100 tight were not timed).",
                  "Machine: 2 cores, SHARED with other jobs during the run -> wall times are inflated;",
                  "cpu_seconds (user+sys of this R process) is the more stable figure.")),
  machine = list(cores = parallel::detectCores(), loadavg_start = load_start, loadavg_end = loadavg(),
                 cpu = tryCatch(unique(sub(".*: ", "", grep("model name", readLines("/proc/cpuinfo"), value = TRUE))),
                                error = function(e) NA_character_)),
  timings = res)
write_json_file(out, file.path(here, "bayesmeta_timing.json"))

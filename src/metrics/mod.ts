/**
 * The seed library's metrics (`overcomplete/metrics.py`) on host tensors: sparsity (l0, l0Eps,
 * l1, l2, lp, l1L2Ratio, hoyer, kappa4), reconstruction (r2Score, avgL2Loss, avgL1Loss,
 * relativeAvgL2Loss, relativeAvgL1Loss), dead codes, dictionary comparisons
 * (dictionaryCollinearity, hungarianLoss, cosineHungarianLoss, energyOfCodes) and distributions
 * (wasserstein1d, frechetDistance, codesCorrelationMatrix).
 *
 * @module
 */
export * from "./sparsity.ts";
export type { Dims } from "./_reduce.ts";
export * from "./reconstruction.ts";
export * from "./dead_codes.ts";
export * from "./dictionary_metrics.ts";
export * from "./hungarian.ts";
export * from "./distribution_metrics.ts";

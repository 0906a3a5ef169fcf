/**
 * The seed library's metrics (`overcomplete/metrics.py`) on host tensors: sparsity (l0, l0Eps,
 * l1, l2, hoyer, kappa4), reconstruction (r2Score, avgL2Loss, relativeAvgL2Loss), dead codes and
 * dictionary comparisons (dictionaryCollinearity, cosineHungarianLoss, energyOfCodes).
 *
 * @module
 */
export * from "./sparsity.ts";
export * from "./reconstruction.ts";
export * from "./dead_codes.ts";
export * from "./dictionary_metrics.ts";
export * from "./hungarian.ts";

/**
 * The WASM backend's kernels: every export takes raw pointers into the shared memory and sizes
 * (outputs first, then inputs, then sizes), then the workspace and the thread index and count.
 * The TypeScript side (`src/backends/wasm/`) allocates; this module never does (`--runtime stub`).
 */

export { addBias, copy, fill, relu, reluBackward, scale, scaleByExp } from "./elementwise";
export { gemm, gemmNaive, gemmWorkspaceBytes } from "./gemm";
export { sparseGemmNN, sparseGemmTN, sparseNNWorkspaceBytes, sparseWorkspaceBytes } from "./sparse";
export { absSum, dot, squaredError, sumRows } from "./reductions";
export { batchNormBackward, batchNormEval, batchNormTrain } from "./batchnorm";
export { layerNorm, layerNormBackward, layerNormReduce } from "./layernorm";
export { heavisideL0, jumpRelu, jumpReluBackward, kernelValue } from "./jumprelu";
export { codeMaskCount, maskedCodeGradient } from "./masked_grad";
export { compactRows, rowNonZeros } from "./compact";
export { auxKBackward, auxKSelect } from "./auxk";
export { divideRows, rowNorms } from "./dictionary";
export { adam, sgd } from "./optim";
export { peakFma } from "./peak";
export { topK } from "./topk";

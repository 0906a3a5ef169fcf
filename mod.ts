/**
 * jumpsae — the JumpReLU Sparse Autoencoder (Rajamanoharan et al. 2024) of the Python library
 * *overcomplete*, in TypeScript for Deno, Node and browsers.
 *
 * @example Build the seed's model, encode a batch, read the dictionary
 * ```ts
 * import { JumpSAE } from "./mod.ts";
 * const sae = new JumpSAE(16, 64, { seed: 0, device: "reference" });
 * const x = { data: new Float32Array(8 * 16).map((_, i) => Math.cos(i)), shape: [8, 16] };
 * const { preCodes, codes, xHat } = await sae.forward(x);
 * const dictionary = await sae.getDictionary(); // [64, 16]
 * console.log(preCodes.shape, codes.shape, xHat.shape, dictionary.shape);
 * sae.dispose();
 * ```
 *
 * @module
 */
export * from "./src/tensor.ts";
export * from "./src/kernels.ts";
export * from "./src/jump_relu.ts";
export * from "./src/jump_sae.ts";
export * from "./src/topk_sae.ts";
export * from "./src/batch_topk_sae.ts";
export type { SelectionSAE, SelectionSAEOptions } from "./src/_selection_sae.ts";
export { kthLargest, topKRows } from "./src/topk.ts";
export * from "./src/encoders.ts";
export * from "./src/mlp_encoder.ts";
export * from "./src/untied_encoder.ts";
export { Residual } from "./src/layers/residual.ts";
export * from "./src/dictionary.ts";
export * from "./src/parameter.ts";
export * from "./src/random.ts";
export * from "./src/layers/layer.ts";
export * from "./src/layers/linear.ts";
export * from "./src/layers/batch_norm.ts";
export * from "./src/layers/layer_norm.ts";
export * from "./src/layers/relu.ts";
export * from "./src/backends/backend.ts";
export * from "./src/backends/select.ts";
export { createReferenceBackend } from "./src/backends/reference.ts";
export type { Loss, LossContext } from "./src/losses.ts";
/** The seed's losses (`losses.mse()`, `losses.mseL0(penalty)`, …) and `losses.hostLoss`. */
export * as losses from "./src/losses.ts";
export * from "./src/errors.ts";
export * from "./src/io/safetensors.ts";
export * from "./src/io/npy.ts";
export * from "./src/io/npz.ts";
export * from "./src/train/mod.ts";
export * from "./src/pretrained/mod.ts";
export { createWasmBackend, type WasmBackendOptions } from "./src/backends/wasm/mod.ts";

/**
 * Test files that `scripts/build_npm.ts` transpiles and runs under Node (they use only the part of
 * the `Deno` namespace that `deno_shim.ts` provides). Not here:
 * `pretrained_test.ts` (`Deno.serve`), `cli_test.ts` (the CLI is Deno-only), `webgpu_backend_test.ts`,
 * and the tests that drive Node, npm, Deno or Chromium themselves.
 */
export const NODE_TESTS: readonly string[] = [
  "tests/parity_test.ts",
  "tests/parity_wasm_test.ts",
  "tests/gradients_test.ts",
  "tests/kernels_test.ts",
  "tests/jump_sae_test.ts",
  "tests/losses_test.ts",
  "tests/metrics_test.ts",
  "tests/optim_test.ts",
  "tests/train_test.ts",
  "tests/safetensors_test.ts",
  "tests/npy_test.ts",
  "tests/npz_test.ts",
  "tests/wasm_backend_test.ts",
  "tests/wasm_model_test.ts",
  "tests/browser_trainer_test.ts",
];

/** Test files that `scripts/build_npm.ts` transpiles and runs under Node (they use only the
 * part of the `Deno` namespace that `deno_shim.ts` provides). */
export const NODE_TESTS: readonly string[] = [
  "tests/parity_test.ts",
  "tests/gradients_test.ts",
  "tests/kernels_test.ts",
  "tests/jump_sae_test.ts",
  "tests/safetensors_test.ts",
  "tests/npy_test.ts",
  "tests/npz_test.ts",
  "tests/wasm_backend_test.ts",
];

/**
 * Pretrained SAEs: loading SAELens, Gemma Scope, seed-library state dicts and this library's
 * checkpoints, and exporting to SAELens.
 *
 * @module
 */

export * from "./load_pretrained.ts";
export * from "./checkpoint.ts";
export * from "./saelens.ts";
export * from "./gemma_scope.ts";
export * from "./state_dict.ts";
export * from "./sources.ts";
export * from "./model_config.ts";
export * from "./normalized_sae.ts";
export type { TrainingConfig } from "./_linear_sae.ts";

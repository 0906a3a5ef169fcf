/**
 * Training: optimizers and schedulers, the seed's metrics, data loading, the training loop with
 * checkpoints, dead-code tracking and a progress bar. Re-exported by the package's `mod.ts`.
 *
 * @module
 */
export * from "../optim/mod.ts";
export * from "../metrics/mod.ts";
export * from "./dead_code_tracker.ts";
export * from "./batch_loader.ts";
export * from "./checkpoint.ts";
export * from "./progress_bar.ts";
export * from "./train_sae.ts";
export * from "./recipes.ts";
export * from "./l0_controller.ts";
export * from "./input_scale.ts";
export type { RecipeTrainOptions } from "./train_recipe.ts";

/**
 * Optimizers (Adam, AdamW, SGD) over a model's parameters on its backend, gradient clipping and
 * the seed library's cosine learning-rate scheduler.
 *
 * @module
 */
export * from "./optimizer.ts";
export * from "./adam.ts";
export * from "./sgd.ts";
export * from "./clip_grad_norm.ts";
export * from "./cosine_scheduler.ts";

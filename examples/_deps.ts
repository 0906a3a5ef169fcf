// The library's public API, plus the training module until mod.ts re-exports it.
export * from "../mod.ts";
export * from "../src/train/mod.ts";

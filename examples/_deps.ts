// The library's public API, as the examples use it.
export * from "../mod.ts";

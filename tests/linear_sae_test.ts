import { assertEquals, assertThrows } from "./_io_assert.ts";
import { requireTensor, transpose } from "../src/pretrained/_linear_sae.ts";

Deno.test("transpose() of [rows, cols] equals the element-by-element transpose, tiles or not", () => {
  for (const [rows, cols] of [[1, 1], [1, 5], [3, 70], [33, 65], [64, 32], [100, 3]]) {
    const src = Float32Array.from({ length: rows * cols }, (_, i) => i * 0.5 - 7);
    const out = transpose(src, rows, cols);
    assertEquals(out.length, rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) assertEquals(out[c * rows + r], src[r * cols + c]);
    }
    assertEquals([...transpose(out, cols, rows)], [...src], `${rows}×${cols} twice`);
  }
});

Deno.test("requireTensor() refuses NaN and ±Infinity, and NaN only in log_threshold", () => {
  const t = (...v: number[]) => ({ data: Float32Array.from(v), shape: [v.length] });
  assertEquals([...requireTensor({ b: t(1, -2) }, ["b"], "f").data], [1, -2]);
  for (const bad of [NaN, Infinity, -Infinity]) {
    assertThrows(
      () => requireTensor({ b_enc: t(0, bad) }, ["b_enc"], "params.npz"),
      RangeError,
      `params.npz tensor b_enc must be finite, got ${bad} at index 1`,
    );
  }
  const logs = requireTensor({ log_threshold: t(-Infinity, Infinity, 0) }, ["log_threshold"], "f");
  assertEquals([...logs.data], [-Infinity, Infinity, 0]);
  assertThrows(
    () => requireTensor({ log_threshold: t(0, NaN) }, ["log_threshold"], "f"),
    RangeError,
    "f tensor log_threshold must be finite, got NaN at index 1",
  );
});

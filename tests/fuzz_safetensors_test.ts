import { assert, assertEquals } from "./_io_assert.ts";
import { fuzzSuite } from "./_fuzz_check.ts";

Deno.test("loadSafetensors() on 300 fuzzed files: what the safetensors rules read, or a FormatError", async () => {
  const { counts, failures } = await fuzzSuite("safetensors");
  assertEquals(failures, []);
  assert((counts["loaded-equal"] ?? 0) >= 10, JSON.stringify(counts));
  assert((counts["refused"] ?? 0) >= 100, JSON.stringify(counts));
});

Deno.test("loadModel() on 300 fuzzed checkpoints: the file's own tensors, or a named error", async () => {
  const { counts, failures } = await fuzzSuite("checkpoint");
  assertEquals(failures, []);
  assert((counts["loaded-equal"] ?? 0) >= 5, JSON.stringify(counts));
});

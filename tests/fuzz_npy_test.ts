import { assert, assertEquals } from "./_io_assert.ts";
import { fuzzSuite } from "./_fuzz_check.ts";

Deno.test("loadNpy() on 300 fuzzed .npy files: equal to numpy or a FormatError", async () => {
  const { counts, failures } = await fuzzSuite("npy");
  assertEquals(failures, []);
  assert((counts["loaded-equal"] ?? 0) >= 20, JSON.stringify(counts));
  assert((counts["refused"] ?? 0) >= 100, JSON.stringify(counts));
});

Deno.test("openNpy() on the same 300 files, streamed in two reads: equal to numpy or refused", async () => {
  const { counts, failures } = await fuzzSuite("npy-stream");
  assertEquals(failures, []);
  assert((counts["loaded-equal"] ?? 0) >= 15, JSON.stringify(counts));
});

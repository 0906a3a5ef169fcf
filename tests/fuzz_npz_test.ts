import { assert, assertEquals } from "./_io_assert.ts";
import { fuzzSuite } from "./_fuzz_check.ts";

Deno.test("loadNpz() on 300 fuzzed archives (zip tricks included): equal to numpy or a FormatError", async () => {
  const { counts, failures } = await fuzzSuite("npz");
  assertEquals(failures, []);
  assert((counts["loaded-equal"] ?? 0) >= 10, JSON.stringify(counts));
  assert((counts["refused"] ?? 0) >= 100, JSON.stringify(counts));
});

import { assert, assertEquals, assertThrows } from "./_io_assert.ts";
import { FormatError } from "../src/errors.ts";
import {
  loadSafetensors,
  loadSafetensorsMetadata,
  saveSafetensors,
} from "../src/io/safetensors.ts";

const FIXTURES = new URL("./fixtures/io/", import.meta.url);
const expected: Record<string, { shape: number[]; data: number[] }> = JSON.parse(
  await Deno.readTextFile(new URL("expected.json", FIXTURES)),
);

/** Builds a safetensors file from a header object (or raw header text) and data bytes. */
function build(header: unknown, data = new Uint8Array(), raw?: string): Uint8Array {
  const json = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("loadSafetensors() reads a file in the Hugging Face layout with every dtype", async () => {
  const bytes = await Deno.readFile(new URL("hf_mixed.safetensors", FIXTURES));
  const tensors = loadSafetensors(bytes);
  const names = Object.keys(expected).filter((k) => k.startsWith("st.")).map((k) => k.slice(3));
  assertEquals(Object.keys(tensors).sort(), names.sort());
  for (const name of names) {
    assertEquals([...tensors[name].shape], expected[`st.${name}`].shape, name);
    assertEquals([...tensors[name].data], expected[`st.${name}`].data, name);
    assert(tensors[name].data instanceof Float32Array);
  }
  assertEquals(tensors.num_batches_tracked.shape, []);
  assertEquals([...tensors.num_batches_tracked.data], [7]);
  assertEquals([...tensors.big_i64.data], [-(2 ** 53), 2 ** 53, 12345678901].map(Math.fround));
  assertEquals([...tensors.weight_bf16.data], [1, -2.5, 3.140625, 0.0078125, -0, 65280]);
  assertEquals({ ...loadSafetensorsMetadata(bytes) }, { format: "pt", note: "jumpsae fixture" });
});

Deno.test("saveSafetensors() writes the Hugging Face layout byte for byte", async () => {
  const fixture = await Deno.readFile(new URL("hf_mixed.safetensors", FIXTURES));
  const tensors = loadSafetensors(fixture);
  const dtypes = {
    weight_f16: "F16",
    weight_bf16: "BF16",
    num_batches_tracked: "I64",
  } as const;
  const keep = ["weight_f32", ...Object.keys(dtypes), "empty"];
  const subset = Object.fromEntries(keep.map((k) => [k, tensors[k]]));
  const bytes = saveSafetensors(subset, { format: "pt" }, { dtypes });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(headerLength % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  assertEquals(
    header.trimEnd(),
    '{"__metadata__":{"format":"pt"},' +
      '"empty":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},' +
      '"num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},' +
      '"weight_bf16":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,20]},' +
      '"weight_f16":{"dtype":"F16","shape":[3,4],"data_offsets":[20,44]},' +
      '"weight_f32":{"dtype":"F32","shape":[3,4],"data_offsets":[44,92]}}',
  );
  assert(/^ *$/.test(header.slice(header.trimEnd().length)));
  // The stored bytes equal those PyTorch wrote for the same tensors.
  const fixtureHeader = JSON.parse(
    new TextDecoder().decode(
      fixture.subarray(8, 8 + Number(new DataView(fixture.buffer).getBigUint64(0, true))),
    ),
  );
  const fixtureData = fixture.subarray(
    8 + Number(new DataView(fixture.buffer).getBigUint64(0, true)),
  );
  const ourHeader = JSON.parse(header);
  const ourData = bytes.subarray(8 + headerLength);
  for (const name of keep) {
    const [a, b] = fixtureHeader[name].data_offsets;
    const [c, d] = ourHeader[name].data_offsets;
    assertEquals([...ourData.subarray(c, d)], [...fixtureData.subarray(a, b)], name);
  }
  const back = loadSafetensors(bytes);
  for (const name of keep) assertEquals(back[name], tensors[name], name);
});

Deno.test("saveSafetensors() round trips F32 exactly and omits __metadata__ unless given", () => {
  const w = { data: new Float32Array([0.1, -3e-39, 1e30, -0, Infinity, 7]), shape: [3, 2] };
  const bytes = saveSafetensors({ z: [[1, 2]], w, s: { data: [4.5], shape: [] } });
  const header = new TextDecoder().decode(bytes.subarray(8, 40));
  assert(header.startsWith('{"s":'), header);
  assertEquals({ ...loadSafetensorsMetadata(bytes) }, {});
  const back = loadSafetensors(bytes);
  assertEquals(back.w, w);
  assertEquals(back.z, { data: new Float32Array([1, 2]), shape: [1, 2] });
  assertEquals(back.s, { data: new Float32Array([4.5]), shape: [] });
  assertEquals({ ...loadSafetensors(saveSafetensors({})) }, {});
});

Deno.test("saveSafetensors() rounds F16 and BF16 to nearest even", () => {
  // 1 + 2^-11 is halfway between two float16 values: ties go to the even one (1).
  // 1 + 3 * 2^-11 is halfway too: ties go to 1 + 2^-9.
  const values = [1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 2 ** -24, 65504, -1e-8, 3 * 2 ** -26];
  const f16 = loadSafetensors(
    saveSafetensors({ x: { data: values, shape: [7] } }, undefined, { dtypes: { x: "F16" } }),
  ).x;
  assertEquals([...f16.data], [1, 1 + 2 ** -9, 0, 2 ** -24, 65504, -0, 2 ** -24]);
  const bf = loadSafetensors(
    saveSafetensors({ x: [1 + 2 ** -8, 1 + 3 * 2 ** -8, -1.00390625] }, undefined, {
      dtypes: { x: "BF16" },
    }),
  ).x;
  assertEquals([...bf.data], [1, 1 + 2 ** -6, -1]);
});

Deno.test("saveSafetensors() refuses values that the storage dtype cannot hold", () => {
  assertThrows(
    () => saveSafetensors({ x: [70000] }, undefined, { dtypes: { x: "F16" } }),
    RangeError,
    "overflows float16",
  );
  assertThrows(
    () => saveSafetensors({ n: [1.5] }, undefined, { dtypes: { n: "I64" } }),
    RangeError,
    "integers",
  );
  assertThrows(
    () => saveSafetensors({ n: [1] }, undefined, { dtypes: { m: "I64" } }),
    TypeError,
    '"m"',
  );
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => saveSafetensors({ n: [1] }, undefined, { dtypes: { n: "F8" as any } }),
    RangeError,
    "F32, F16, BF16, I64",
  );
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => saveSafetensors({ n: [1] }, { format: 3 as any }),
    TypeError,
    "metadata.format",
  );
  assertThrows(
    () => saveSafetensors({ n: { data: [1, 2, 3], shape: [2] } }),
    RangeError,
    'tensor "n"',
  );
});

Deno.test("loadSafetensors() accepts big I64 up to 2^53 and refuses larger ones by name", () => {
  const data = new Uint8Array(16);
  const view = new DataView(data.buffer);
  view.setBigInt64(0, -(2n ** 53n), true);
  view.setBigInt64(8, 2n ** 53n + 1n, true);
  const bytes = build({ step: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, data);
  assertThrows(() => loadSafetensors(bytes), FormatError, '"step"');
});

Deno.test("loadSafetensors() refuses truncated and malformed files with the right error", () => {
  const good = saveSafetensors({ a: [1, 2], b: [3] });
  const t = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
  const eight = new Uint8Array(8);
  const cases: [string, Uint8Array, typeof FormatError, string][] = [
    ["empty", new Uint8Array(0), FormatError, "truncated"],
    ["7 bytes", good.subarray(0, 7), FormatError, "truncated"],
    ["data cut", good.subarray(0, good.length - 1), FormatError, "truncated"],
    ["header cut", good.subarray(0, 20), FormatError, "past the end"],
    ["huge header length", build({}, eight).fill(0xff, 0, 8), FormatError, "at most"],
    ["invalid JSON", build(null, eight, '{"a": '), FormatError, "JSON"],
    ["array header", build([1, 2]), FormatError, "JSON object"],
    ["number header", build(3), FormatError, "JSON object"],
    ["unknown dtype", build({ a: { ...t, dtype: "F8_E4M3" } }, eight), FormatError, "F8_E4M3"],
    ["missing dtype", build({ a: { ...t, dtype: undefined } }, eight), FormatError, "dtype"],
    ["bad shape", build({ a: { ...t, shape: [-2] } }, eight), FormatError, "shape"],
    ["bad offsets", build({ a: { ...t, data_offsets: [0] } }, eight), FormatError, "data_offsets"],
    [
      "end past data",
      build({ a: { ...t, data_offsets: [0, 16] } }, eight),
      FormatError,
      "out of range",
    ],
    [
      "begin > end",
      build({ a: { ...t, data_offsets: [8, 0] } }, eight),
      FormatError,
      "out of range",
    ],
    [
      "size mismatch",
      build({ a: { ...t, shape: [3], data_offsets: [0, 8] } }, eight),
      FormatError,
      "expected 12",
    ],
    [
      "overlap",
      build({ a: t, b: { ...t, shape: [1], data_offsets: [4, 8] } }, eight),
      FormatError,
      "overlapping",
    ],
    [
      "gap",
      build({ a: { ...t, shape: [1], data_offsets: [4, 8] } }, eight),
      FormatError,
      "contiguous",
    ],
    ["trailing bytes", build({ a: t }, new Uint8Array(12)), FormatError, "whole data"],
    [
      "bad metadata",
      build({ __metadata__: { a: 1 }, a: t }, eight),
      FormatError,
      "__metadata__.a",
    ],
    ["entry not object", build({ a: 5 }), FormatError, '"a"'],
  ];
  for (const [label, bytes, ErrorClass, text] of cases) {
    assertThrows(() => loadSafetensors(bytes), ErrorClass, text, label);
  }
  assertThrows(() => loadSafetensorsMetadata(good.subarray(0, 3)), FormatError, "truncated");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => loadSafetensors([1, 2, 3] as any), TypeError, "Uint8Array");
});

Deno.test("loadSafetensors() reads from a Uint8Array view at an odd offset", () => {
  const bytes = saveSafetensors({ a: [1.5, -2], b: [[3]] }, undefined, { dtypes: { b: "F16" } });
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const back = loadSafetensors(shifted.subarray(3));
  assertEquals([...back.a.data], [1.5, -2]);
  assertEquals(back.b, { data: new Float32Array([3]), shape: [1, 1] });
});

Deno.test("loadSafetensors() and saveSafetensors() keep names that are Object.prototype keys", () => {
  const dict = { ["__proto__"]: [1, 2], constructor: [3], toString: { data: [4], shape: [] } };
  const bytes = saveSafetensors(dict, { ["__proto__"]: "m", hasOwnProperty: "n" });
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  assert(Object.hasOwn(header, "__proto__"), "the writer stores __proto__ in the header");
  const back = loadSafetensors(bytes);
  assertEquals(Object.getPrototypeOf(back), null);
  assertEquals(Object.keys(back).sort(), ["__proto__", "constructor", "toString"]);
  assertEquals([...back["__proto__"].data], [1, 2]);
  assertEquals([...back["constructor" as string].data], [3]);
  assertEquals({ ...loadSafetensorsMetadata(bytes) }, { ["__proto__"]: "m", hasOwnProperty: "n" });
  // Inherited keys are not dtypes.
  const t = { shape: [1], data_offsets: [0, 4] };
  for (const dtype of ["constructor", "toString", "__proto__"]) {
    assertThrows(
      () => loadSafetensors(build({ a: { ...t, dtype } }, new Uint8Array(4))),
      FormatError,
      dtype,
    );
  }
});

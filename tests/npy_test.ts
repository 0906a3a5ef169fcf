import { assert, assertEquals, assertRejects, assertThrows } from "./_io_assert.ts";
import { createNpyWriter, loadNpy, openNpy, saveNpy } from "../src/io/npy.ts";
import { FormatError } from "../src/errors.ts";

const FIXTURES = new URL("./fixtures/io/", import.meta.url);
const expected: Record<string, { shape: number[]; data: number[] }> = JSON.parse(
  await Deno.readTextFile(new URL("expected.json", FIXTURES)),
);
const fixture = (name: string) => Deno.readFile(new URL(`${name}.npy`, FIXTURES));
const NPY_FIXTURES = Object.keys(expected).filter((k) => k.startsWith("npy.")).map((k) =>
  k.slice(4)
);

/** Builds a .npy file by hand: version 1.0 with the given header text and data. */
function handmade(header: string, data = new Uint8Array(), version = 1): Uint8Array {
  const text = new TextEncoder().encode(header);
  const prefix = version === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, prefix);
  out.set(data, prefix + text.length);
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_npy_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadNpy() reads every numpy fixture: dtypes, byte orders, Fortran order, versions", async () => {
  assert(NPY_FIXTURES.length >= 14, `only ${NPY_FIXTURES.length} fixtures`);
  for (const name of NPY_FIXTURES) {
    const t = loadNpy(await fixture(name));
    assertEquals([...t.shape], expected[`npy.${name}`].shape, name);
    assertEquals([...t.data], expected[`npy.${name}`].data, name);
    assert(t.data instanceof Float32Array, name);
  }
  // Spot checks against values computed here, not only against the JSON.
  const f = loadNpy(await fixture("f4_fortran"));
  assertEquals([...f.data.subarray(0, 5)], [-2.0625, -1.6875, -1.3125, -0.9375, -0.5625]);
  const f3 = loadNpy(await fixture("f8_fortran_3d"));
  assertEquals(f3.shape, [2, 3, 4]);
  assertEquals([...f3.data], Array.from({ length: 24 }, (_, i) => i / 8));
  assertEquals(loadNpy(await fixture("f4_scalar")), { data: new Float32Array([2.5]), shape: [] });
  assertEquals([...loadNpy(await fixture("i8_le")).data.subarray(0, 2)], [
    Math.fround(-(2 ** 40)),
    Math.fround(1000003 - 2 ** 40),
  ]);
});

Deno.test("saveNpy() writes the same bytes as numpy's np.save", async () => {
  const cases: [string, "<f4" | "<f2" | "<f8"][] = [
    ["f4_le", "<f4"],
    ["f2_le", "<f2"],
    ["f8_le", "<f8"],
    ["f4_scalar", "<f4"],
    ["f4_1d", "<f4"],
  ];
  for (const [name, dtype] of cases) {
    const e = expected[`npy.${name}`];
    const bytes = saveNpy({ data: e.data, shape: e.shape }, { dtype });
    assertEquals([...bytes], [...await fixture(name)], name);
  }
  // A Fortran-order file saved back comes out in C order, as numpy would save its C copy.
  const f = loadNpy(await fixture("f4_fortran"));
  assertEquals([...saveNpy(f)], [...await fixture("f4_le")]);
});

Deno.test("saveNpy() round trips and refuses bad options", () => {
  const t = { data: new Float32Array([1e-40, -0, 3.4e38, NaN, 0.1, 7]), shape: [1, 2, 3] };
  const back = loadNpy(saveNpy(t));
  assertEquals(back.shape, [1, 2, 3]);
  assertEquals([...back.data], [...t.data]);
  assertEquals(loadNpy(saveNpy({ data: [], shape: [0, 4] })), {
    data: new Float32Array(0),
    shape: [0, 4],
  });
  assertEquals([...loadNpy(saveNpy([0.1], { dtype: "<f8" })).data], [Math.fround(0.1)]);
  assertEquals(loadNpy(saveNpy([0.1], { dtype: "<f2" })).data[0], 0.0999755859375);
  assertThrows(() => saveNpy([70000], { dtype: "<f2" }), RangeError, "overflows float16");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => saveNpy([1], { dtype: ">f4" as any }), RangeError, "<f4, <f2, <f8");
  assertThrows(() => saveNpy({ data: [1, 2], shape: [3] }), RangeError, "needs 3");
  // Every header is 64-byte aligned, whatever the rank.
  for (const shape of [[], [5], [2, 3], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]) {
    const bytes = saveNpy({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
    const headerEnd = 10 + new DataView(bytes.buffer).getUint16(8, true);
    assertEquals(headerEnd % 64, 0, `shape ${shape}`);
  }
});

Deno.test("loadNpy() reads hand-made headers: big-endian ints, bools, double quotes", () => {
  const data = new Uint8Array(8);
  new DataView(data.buffer).setInt32(0, -5, false);
  new DataView(data.buffer).setInt32(4, 70000, false);
  const t = loadNpy(handmade(`{"descr": ">i4", "shape": (2,), "fortran_order": False}\n`, data));
  assertEquals([...t.data], [-5, 70000]);
  const b = loadNpy(
    handmade(
      "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
      new Uint8Array([1, 0, 2]),
    ),
  );
  assertEquals([...b.data], [1, 0, 1]);
  const u = loadNpy(
    handmade("{'descr':'|u1','fortran_order':True,'shape':(2,2)}", new Uint8Array([1, 2, 3, 4]), 2),
  );
  assertEquals([...u.data], [1, 3, 2, 4]);
});

Deno.test("loadNpy() refuses truncated and malformed files with the right error", async () => {
  const good = await fixture("f4_le");
  const h = (s: string, n = 0) => handmade(s, new Uint8Array(n));
  const big = new Uint8Array(8);
  new DataView(big.buffer).setBigInt64(0, 2n ** 60n, true);
  const cases: [string, Uint8Array, typeof FormatError | ErrorConstructor, string][] = [
    ["empty", new Uint8Array(0), FormatError, "truncated"],
    ["magic only", good.subarray(0, 6), FormatError, "truncated"],
    ["header cut", good.subarray(0, 100), FormatError, "truncated"],
    ["data cut", good.subarray(0, good.length - 1), FormatError, "truncated"],
    ["trailing data", new Uint8Array([...good, 0, 0, 0, 0]), FormatError, "expected 48"],
    ["bad magic", new Uint8Array(good).fill(0x41, 0, 1), FormatError, "magic"],
    ["version 4", new Uint8Array(good).fill(4, 6, 7), FormatError, "version 4.0"],
    ["not a dict", h("[1, 2]"), FormatError, "expected a dict"],
    [
      "garbage",
      h("{'descr': '<f4', 'shape': (2,), 'fortran_order': Fals}"),
      FormatError,
      "malformed",
    ],
    [
      "missing key",
      h("{'descr': '<f4', 'shape': (2,)}"),
      FormatError,
      "descr, fortran_order, shape",
    ],
    [
      "complex",
      h("{'descr': '<c8', 'fortran_order': False, 'shape': (1,)}", 8),
      FormatError,
      "<c8",
    ],
    [
      "unicode",
      h("{'descr': '<U3', 'fortran_order': False, 'shape': (1,)}", 12),
      FormatError,
      "<U3",
    ],
    [
      "f16 bytes",
      h("{'descr': '<f16', 'fortran_order': False, 'shape': (1,)}", 16),
      FormatError,
      "<f16",
    ],
    [
      "structured",
      h("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4),
      FormatError,
      "structured",
    ],
    [
      "negative dim",
      h("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}"),
      FormatError,
      "shape",
    ],
    [
      "bad order",
      h("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4),
      FormatError,
      "fortran_order",
    ],
    [
      "i8 too large",
      handmade("{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", big),
      FormatError,
      "2^53",
    ],
  ];
  for (const [label, bytes, ErrorClass, text] of cases) {
    assertThrows(() => loadNpy(bytes), ErrorClass, text, label);
  }
  // deno-lint-ignore no-explicit-any
  assertThrows(() => loadNpy("x" as any), TypeError, "Uint8Array");
});

Deno.test("openNpy() streams C-order rows from a file without loading it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/x.npy`;
    const data = Float32Array.from({ length: 50 * 6 }, (_, i) => i * 0.5 - 3);
    await Deno.writeFile(path, saveNpy({ data, shape: [50, 2, 3] }));
    const reader = await openNpy(path);
    assertEquals(reader.shape, [50, 2, 3]);
    assertEquals(reader.rows, 50);
    assertEquals(reader.dtype, "<f4");
    assertEquals(reader.fortranOrder, false);
    const chunk = await reader.readRows(7, 4);
    assertEquals(chunk.shape, [4, 2, 3]);
    assertEquals([...chunk.data], [...data.subarray(42, 66)]);
    // Concurrent reads must not interleave.
    const all = await Promise.all(Array.from({ length: 10 }, (_, k) => reader.readRows(k * 5, 5)));
    assertEquals(all.flatMap((c) => [...c.data]), [...data]);
    assertEquals((await reader.readRows(50, 0)).shape, [0, 2, 3]);
    await assertRejects(() => reader.readRows(48, 3), RangeError, "rows below 50");
    await assertRejects(() => reader.readRows(-1, 1), RangeError, "start");
    await assertRejects(() => reader.readRows(0, 1.5), RangeError, "count");
    await reader.close();
    await assertRejects(() => reader.readRows(0, 1), TypeError, "closed");

    // Other dtypes and byte orders stream too.
    await Deno.copyFile(new URL("f2_be.npy", FIXTURES), `${dir}/be.npy`);
    const be = await openNpy(`${dir}/be.npy`);
    assertEquals([...(await be.readRows(1, 2)).data], expected["npy.f2_be"].data.slice(4));
    await be.close();
  });
});

Deno.test("openNpy() refuses Fortran order, scalars and truncated files", async () => {
  await withTempDir(async (dir) => {
    await Deno.copyFile(new URL("f4_fortran.npy", FIXTURES), `${dir}/f.npy`);
    const f = await openNpy(`${dir}/f.npy`);
    assertEquals(f.fortranOrder, true);
    await assertRejects(() => f.readRows(0, 1), RangeError, "C order");
    await f.close();
    await Deno.copyFile(new URL("f4_scalar.npy", FIXTURES), `${dir}/s.npy`);
    await assertRejects(() => openNpy(`${dir}/s.npy`), RangeError, "scalar");
    const good = await fixture("f4_le");
    await Deno.writeFile(`${dir}/cut.npy`, good.subarray(0, good.length - 4));
    await assertRejects(() => openNpy(`${dir}/cut.npy`), FormatError, "truncated");
    await Deno.writeFile(`${dir}/head.npy`, good.subarray(0, 40));
    await assertRejects(() => openNpy(`${dir}/head.npy`), FormatError, "truncated");
    await Deno.writeFile(`${dir}/tiny.npy`, good.subarray(0, 3));
    await assertRejects(() => openNpy(`${dir}/tiny.npy`), FormatError, "truncated");
  });
});

Deno.test("createNpyWriter() appends rows and patches the row count at close", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/codes.npy`;
    const writer = await createNpyWriter(path, 3);
    await writer.append([[1, 2, 3], [4, 5, 6]]);
    await writer.append([7, 8, 9]);
    await writer.append({ data: [], shape: [0, 3] });
    await Promise.all([writer.append([[10, 11, 12]]), writer.append([[13, 14, 15]])]);
    assertEquals(writer.rows, 5);
    await assertRejects(() => writer.append([[1, 2]]), RangeError, "[n, 3]");
    await writer.close();
    await writer.close();
    await assertRejects(() => writer.append([[1, 2, 3]]), TypeError, "closed");
    const bytes = await Deno.readFile(path);
    const t = loadNpy(bytes);
    assertEquals(t.shape, [5, 3]);
    assertEquals([...t.data], Array.from({ length: 15 }, (_, i) => i + 1));
    // Byte for byte what np.save writes for the same array.
    assertEquals([...bytes], [...saveNpy(t)]);

    const half = await createNpyWriter(`${dir}/h.npy`, [2, 2], { dtype: "<f2" });
    await half.append({ data: [0.5, 1, 2, 65504, -1, -2, -3, -4], shape: [2, 2, 2] });
    await half.close();
    const h = loadNpy(await Deno.readFile(`${dir}/h.npy`));
    assertEquals(h.shape, [2, 2, 2]);
    assertEquals([...h.data], [0.5, 1, 2, 65504, -1, -2, -3, -4]);

    await assertRejects(() => createNpyWriter(`${dir}/bad.npy`, -1), RangeError, "cols");
    await assertRejects(
      // deno-lint-ignore no-explicit-any
      () => createNpyWriter(`${dir}/bad.npy`, 2, { dtype: "<i4" as any }),
      RangeError,
      "<f4",
    );
  });
});

Deno.test("loadNpy() header is bounded: nesting, length, axes and Python literal rules", () => {
  const deep = "(".repeat(9_000);
  const cases: [string, Uint8Array, string][] = [
    ["deep nesting", handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': ${deep}`), "flat"],
    [
      "nested dict",
      handmade(`{'descr': {'a': 1}, 'fortran_order': False, 'shape': (1,)}`),
      "value",
    ],
    ["60000 open brackets", handmade("(".repeat(60_000)), "at most 10000"],
    ["header over 10000 bytes", handmade(" ".repeat(10_001)), "at most 10000"],
    ["v2 header of 4 GB", handmade(" ".repeat(4), undefined, 2).fill(0xff, 8, 12), "at most 10000"],
    [
      "65 axes",
      handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (${"1, ".repeat(65)})}`),
      "at most 64",
    ],
    ["(3) is not a tuple", handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (3)}`), "3"],
    [
      "a list is not a tuple",
      handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': [3]}`),
      "tuple",
    ],
    [
      "leading zeros",
      handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (03,)}`),
      "a value",
    ],
    ["float dim", handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}`), "a value"],
    [
      "escapes",
      handmade(`{'descr': '\\x3cf4', 'fortran_order': False, 'shape': (1,)}`),
      "plain string",
    ],
    [
      "__proto__ key",
      handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (1,), '__proto__': 1}`),
      "__proto__",
    ],
    [
      "L suffix in v3",
      handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (1L,)}`, undefined, 3),
      "a value",
    ],
    [
      "2^53 bytes",
      handmade(`{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576)}`),
      "2^53",
    ],
  ];
  for (const [label, bytes, text] of cases) {
    assertThrows(() => loadNpy(bytes), FormatError, text, label);
  }
  // Python 2's long suffix is accepted in versions 1 and 2, as numpy's header filter does.
  const long = handmade(
    `{'descr': '<f4', 'fortran_order': False, 'shape': (1L,)}`,
    new Uint8Array(4),
  );
  assertEquals([...loadNpy(long).shape], [1]);
  // `00` is a valid Python integer (zero).
  assertEquals([
    ...loadNpy(handmade(`{'descr': '<f4', 'fortran_order': False, 'shape': (00,)}`)).shape,
  ], [0]);
  // A FormatError says where.
  const cut = handmade(
    `{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}`,
    new Uint8Array(3),
  );
  const error = (() => {
    try {
      loadNpy(cut);
    } catch (e) {
      return e;
    }
  })();
  assert(error instanceof FormatError && error instanceof RangeError);
  assertEquals([error.name, error.file, error.offset], ["FormatError", ".npy file", 65]);
});

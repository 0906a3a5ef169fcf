import { assert, assertEquals, assertRejects } from "./_io_assert.ts";
import { loadNpz, saveNpz } from "../src/io/npz.ts";
import { crc32 } from "../src/io/_crc32.ts";
import { loadNpy, saveNpy } from "../src/io/npy.ts";
import { FormatError } from "../src/errors.ts";

const FIXTURES = new URL("./fixtures/io/", import.meta.url);
const expected: Record<string, { shape: number[]; data: number[] }> = JSON.parse(
  await Deno.readTextFile(new URL("expected.json", FIXTURES)),
);
const fixture = (name: string) => Deno.readFile(new URL(name, FIXTURES));

/** Minimal independent ZIP walker: member names, methods, CRCs and sizes from the central directory. */
function listZip(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  assertEquals(view.getUint32(end, true), 0x06054b50);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const out = [];
  for (let k = 0; k < count; k++) {
    assertEquals(view.getUint32(at, true), 0x02014b50);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    assertEquals(view.getUint32(local, true), 0x04034b50);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    out.push({
      name: new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      method: view.getUint16(at + 10, true),
      crc: view.getUint32(at + 16, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      data: bytes.subarray(start, start + view.getUint32(at + 20, true)),
    });
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return out;
}

Deno.test("crc32() matches known check values", () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array(0)), 0);
  assertEquals(
    crc32(new TextEncoder().encode("The quick brown fox jumps over the lazy dog")),
    0x414fa339,
  );
});

Deno.test("loadNpz() reads archives written by np.savez and np.savez_compressed", async () => {
  for (const file of ["savez.npz", "savez_compressed.npz"]) {
    const { a, b, ...rest } = await loadNpz(await fixture(file));
    assertEquals(Object.keys(rest), [], file);
    assertEquals([...a.shape], expected["npz.a"].shape, file);
    assertEquals([...a.data], expected["npz.a"].data, file);
    assertEquals([...b.shape], expected["npz.b"].shape, file);
    assertEquals([...b.data], expected["npz.b"].data, file);
  }
  const positional = await loadNpz(await fixture("savez_positional.npz"));
  assertEquals(Object.keys(positional).sort(), ["arr_0", "arr_1"]);
  assertEquals(positional.arr_1, { data: new Float32Array([1.5]), shape: [] });
  assertEquals([...positional.arr_0.data], expected["npz.a"].data);
});

Deno.test("loadNpz() reads ZIP64 extra fields and end records", async () => {
  const bytes = await fixture("zip64.npz");
  const check = async (archive: Uint8Array, label: string) => {
    const { a, b } = await loadNpz(archive);
    assertEquals([...a.data], expected["npz.a"].data, label);
    assertEquals([...b.data], expected["npz.b"].data, label);
  };
  await check(bytes, "as written by Python");
  // Python keeps the classic end record usable when it can; mark its fields as "see ZIP64"
  // so that only the ZIP64 end record gives the count, size and offset.
  const patched = new Uint8Array(bytes);
  const view = new DataView(patched.buffer);
  const end = patched.length - 22;
  view.setUint16(end + 8, 0xffff, true);
  view.setUint16(end + 10, 0xffff, true);
  view.setUint32(end + 12, 0xffffffff, true);
  view.setUint32(end + 16, 0xffffffff, true);
  await check(patched, "ZIP64 end record only");
  const noLocator = new Uint8Array(patched);
  noLocator[end - 20] = 0;
  await assertRejects(() => loadNpz(noLocator), FormatError, "locator");
});

Deno.test("saveNpz() writes stored members with correct CRCs, and compressed ones on request", async () => {
  const dict = {
    weights: { data: Float32Array.from({ length: 200 }, (_, i) => i % 7), shape: [20, 10] },
    "dictionary._weights": [[0.5, -1], [2, 3]],
    scalar: { data: [9], shape: [] },
  };
  const stored = await saveNpz(dict);
  const members = listZip(stored);
  assertEquals(members.map((m) => m.name), [
    "weights.npy",
    "dictionary._weights.npy",
    "scalar.npy",
  ]);
  for (const m of members) {
    assertEquals(m.method, 0);
    assertEquals(m.compressedSize, m.size);
    assertEquals(m.crc, crc32(m.data));
  }
  assertEquals(loadNpy(members[1].data), {
    data: new Float32Array([0.5, -1, 2, 3]),
    shape: [2, 2],
  });
  const compressed = await saveNpz(dict, { compress: true });
  const cm = listZip(compressed);
  assert(cm.every((m) => m.method === 8));
  assert(compressed.length < stored.length, `${compressed.length} >= ${stored.length}`);
  assertEquals(cm.map((m) => m.crc), members.map((m) => m.crc));
  for (const bytes of [stored, compressed]) {
    const back = await loadNpz(bytes);
    assertEquals(back.weights, dict.weights);
    assertEquals(back["dictionary._weights"], {
      data: new Float32Array([0.5, -1, 2, 3]),
      shape: [2, 2],
    });
    assertEquals(back.scalar, { data: new Float32Array([9]), shape: [] });
  }
  // Output is reproducible (fixed timestamps).
  assertEquals([...await saveNpz(dict)], [...stored]);
  const half = await loadNpz(await saveNpz({ x: [0.1] }, { dtype: "<f2" }));
  assertEquals(half.x.data[0], 0.0999755859375);
  const empty = await loadNpz(await saveNpz({}));
  assertEquals([Object.keys(empty), Object.getPrototypeOf(empty)], [[], null]);
});

Deno.test("loadNpz() refuses truncated and corrupted archives with the right error", async () => {
  const stored = await fixture("savez.npz");
  const compressed = await fixture("savez_compressed.npz");
  const flip = (bytes: Uint8Array, at: number) => {
    const copy = new Uint8Array(bytes);
    copy[at] ^= 0xff;
    return copy;
  };
  const members = listZip(stored);
  const dataAt = members[0].data.byteOffset + 100;
  const zMembers = listZip(compressed);
  const zDataAt = zMembers[0].data.byteOffset + 5;
  const methodAt = stored.length - 22 - (46 + 5) * 2 + 10; // method of the first central entry
  const cases: [string, Uint8Array, typeof FormatError, string][] = [
    ["empty", new Uint8Array(0), FormatError, "truncated"],
    ["cut end", stored.subarray(0, stored.length - 10), FormatError, "end of central directory"],
    ["cut half", stored.subarray(0, 300), FormatError, "end of central directory"],
    ["not zip", new Uint8Array(100).fill(7), FormatError, "end of central directory"],
    ["bad CRC", flip(stored, dataAt), FormatError, "CRC-32"],
    ["bad deflate", flip(compressed, zDataAt), FormatError, "a.npy"],
    ["bad method", flip(stored, methodAt), FormatError, "compression method"],
  ];
  for (const [label, bytes, ErrorClass, text] of cases) {
    await assertRejects(() => loadNpz(bytes), ErrorClass, text, label);
  }
  // A member that is not a valid .npy is named in the error.
  const broken = await saveNpz({ x: [1, 2] });
  const m = listZip(broken)[0];
  const copy = new Uint8Array(broken);
  copy[m.data.byteOffset] = 0; // break the magic; fix the CRC so that only the npy check fails
  const view = new DataView(copy.buffer);
  const fixedCrc = crc32(copy.subarray(m.data.byteOffset, m.data.byteOffset + m.size));
  view.setUint32(14, fixedCrc, true);
  view.setUint32(copy.length - 22 - 46 - 5 + 16, fixedCrc, true);
  await assertRejects(() => loadNpz(copy), FormatError, '"x.npy"');
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => loadNpz([1] as any), TypeError, "Uint8Array");
  // deno-lint-ignore no-explicit-any
  await assertRejects(() => saveNpz([1] as any), TypeError, "dict");
});

/** Offsets of the end record and of each central entry of a small archive without comments. */
function layout(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  const central: number[] = [];
  let at = view.getUint32(end + 16, true);
  for (let k = 0; k < view.getUint16(end + 10, true); k++) {
    central.push(at);
    at += 46 + view.getUint16(at + 28, true) + view.getUint16(at + 30, true);
  }
  return { view, end, central };
}

Deno.test("loadNpz() follows the central directory and refuses what contradicts it", async () => {
  const good = await saveNpz({ a: [1, 2, 3], b: [4, 5] });
  const edit = (change: (l: ReturnType<typeof layout>, copy: Uint8Array) => void) => {
    const copy = new Uint8Array(good);
    change(layout(copy), copy);
    return copy;
  };
  const cases: [string, Uint8Array, string][] = [
    [
      "lowered entry count",
      edit(({ view, end }) => {
        view.setUint16(end + 8, 1, true);
        view.setUint16(end + 10, 1, true);
      }),
      "after its 1 declared entries",
    ],
    [
      "overlapping members",
      edit(({ view, central }) => {
        view.setUint32(central[0] + 20, 150, true);
        view.setUint32(central[0] + 24, 150, true);
      }),
      "overlaps",
    ],
    [
      "two entries for one local header",
      edit(({ view, central }) => view.setUint32(central[1] + 42, 0, true)),
      "local header",
    ],
    ["local name differs", edit((_, copy) => copy[30] = "z".charCodeAt(0)), "local header"],
    [
      "prepended data",
      edit(({ view, end }) => view.setUint32(end + 16, view.getUint32(end + 16, true) - 1, true)),
      "central directory",
    ],
    [
      "duplicate names",
      edit((l, copy) => {
        copy[l.central[1] + 46] = "a".charCodeAt(0);
        copy[view0(copy).getUint32(l.central[1] + 42, true) + 30] = "a".charCodeAt(0);
      }),
      "two members",
    ],
  ];
  for (const [label, bytes, text] of cases) {
    await assertRejects(() => loadNpz(bytes), FormatError, text, label);
  }
  // A ZIP64 end record, when present, must agree with the classic one.
  const zip64 = await fixture("zip64.npz");
  const lying = new Uint8Array(zip64);
  const v = view0(lying);
  const record = Number(v.getBigUint64(lying.length - 22 - 20 + 8, true));
  v.setBigUint64(record + 32, 1n, true);
  v.setBigUint64(record + 24, 1n, true);
  await assertRejects(() => loadNpz(lying), FormatError, "contradicts its ZIP64 record");
});

function view0(bytes: Uint8Array) {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

Deno.test("loadNpz() stops inflating at the declared size (decompression bombs)", async () => {
  // 16 MB of zeros deflate to ~16 KB; the entry declares 128 bytes.
  const zeros = saveNpy({ data: new Float32Array(4 << 20), shape: [4 << 20] });
  const archive = await saveNpz({ z: { data: new Float32Array(4 << 20), shape: [4 << 20] } }, {
    compress: true,
  });
  const bomb = new Uint8Array(archive);
  const { view, central } = layout(bomb);
  view.setUint32(central[0] + 24, 128, true);
  view.setUint32(22, 128, true);
  await assertRejects(() => loadNpz(bomb), FormatError, "more than the 128 bytes");
  // A declared size that no deflate stream of this length can reach is refused before inflating.
  const huge = new Uint8Array(archive);
  const h = layout(huge);
  h.view.setUint32(h.central[0] + 24, 0xfffffff0, true);
  await assertRejects(() => loadNpz(huge), FormatError, "more than deflate can expand");
  // The honest archive still loads.
  const back = await loadNpz(archive);
  assertEquals([back.z.data.length, back.z.data.every((x) => x === 0)], [4 << 20, true]);
  assert(zeros.length > archive.length * 100);
});

Deno.test("loadNpz() and loadNpy() keep names that are Object.prototype keys", async () => {
  const bytes = await saveNpz({ ["__proto__"]: [1, 2], constructor: [3], toString: [4] });
  const back = await loadNpz(bytes);
  assertEquals(Object.keys(back).sort(), ["__proto__", "constructor", "toString"]);
  assertEquals([...back["__proto__"].data], [1, 2]);
  assertEquals([...back["constructor" as string].data], [3]);
  assertEquals(Object.getPrototypeOf(back), null);
});

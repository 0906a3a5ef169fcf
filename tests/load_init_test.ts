import { assertEquals } from "./_io_assert.ts";
import { JumpSAE } from "../src/jump_sae.ts";
import { _withoutInit, Random } from "../src/random.ts";
import {
  fromSeedStateDict,
  gemmaScopeFromTensors,
  loadModel,
  loadPretrained,
  saveModel,
} from "../src/pretrained/mod.ts";
import { saveNpz } from "../src/io/npz.ts";

/** Counts the random numbers drawn while `run` runs. */
async function draws(run: () => Promise<unknown>): Promise<number> {
  const next = Random.prototype.next;
  let count = 0;
  Random.prototype.next = function () {
    count++;
    return next.call(this);
  };
  try {
    await run();
  } finally {
    Random.prototype.next = next;
  }
  return count;
}

Deno.test("_withoutInit() gives zeros from uniform inside, the seeded values outside", () => {
  const seeded = new Random(7).uniform(6, 1);
  assertEquals(seeded.some((v) => v !== 0), true);
  assertEquals([..._withoutInit(() => new Random(7)).uniform(6, 1)], [0, 0, 0, 0, 0, 0]);
  let thrown = false;
  try {
    _withoutInit(() => {
      throw new RangeError("build failed");
    });
  } catch (error) {
    thrown = error instanceof RangeError;
  }
  assertEquals(thrown, true);
  assertEquals([...new Random(7).uniform(6, 1)], [...seeded]); // the flag is off again
});

Deno.test("a model built inside _withoutInit() has zero weights; one built after is seeded", async () => {
  const blank = _withoutInit(() =>
    new JumpSAE(4, 8, { encoderModule: "linear", seed: 3, device: "reference" })
  );
  const state = await blank.stateDict();
  assertEquals(state["encoder.final_block.0.weight"].data.every((v) => v === 0), true);
  assertEquals(state["dictionary._weights"].data.every((v) => v === 0), true);
  const a = await new JumpSAE(4, 8, { encoderModule: "linear", seed: 3, device: "reference" })
    .stateDict();
  const b = await new JumpSAE(4, 8, { encoderModule: "linear", seed: 3, device: "reference" })
    .stateDict();
  assertEquals([...a["dictionary._weights"].data], [...b["dictionary._weights"].data]);
  assertEquals(a["dictionary._weights"].data.some((v) => v !== 0), true);
});

Deno.test("loadModel() and loadPretrained() draw no random number and load the file's values", async () => {
  const sae = new JumpSAE(6, 12, { encoderModule: "mlp_bn_1", seed: 5, device: "reference" });
  const bytes = await saveModel(sae);
  const want = await sae.stateDict();
  let loaded: JumpSAE | undefined;
  assertEquals(
    await draws(async () =>
      loaded = await loadModel(bytes, { device: "reference", mode: "train" })
    ),
    0,
  );
  const got = await loaded!.stateDict();
  for (const key of Object.keys(want)) assertEquals([...got[key].data], [...want[key].data], key);
  const D = 4, C = 8;
  const params = await saveNpz({
    W_enc: { data: new Float32Array(D * C).map((_, i) => i / 10), shape: [D, C] },
    b_enc: { data: new Float32Array(C), shape: [C] },
    W_dec: { data: new Float32Array(C * D).fill(0.2), shape: [C, D] },
    b_dec: { data: new Float32Array(D), shape: [D] },
    threshold: { data: new Float32Array(C).fill(0.35), shape: [C] },
  });
  let gemma: JumpSAE | undefined;
  const n = await draws(async () =>
    gemma = await loadPretrained({ files: { "params.npz": params } }, { device: "reference" })
  );
  assertEquals(n, 0);
  const { codes } = await gemma!.encode([[1, 0, 0, 0]]); // pre = W_enc row 0 = c/10
  assertEquals([...codes.data].map((v) => +v.toFixed(4)), [0, 0, 0, 0, 0.4, 0.5, 0.6, 0.7]);
  for (const m of [sae, loaded!, gemma!]) m.dispose();
});

Deno.test("gemmaScopeFromTensors() and fromSeedStateDict() copy the caller's arrays; a changed array changes no model", async () => {
  const D = 3, C = 4;
  const wDec = new Float32Array(C * D).fill(0.5);
  const tensors = {
    W_enc: { data: new Float32Array(D * C).fill(0.1), shape: [D, C] },
    b_enc: { data: new Float32Array(C), shape: [C] },
    W_dec: { data: wDec, shape: [C, D] },
    b_dec: { data: new Float32Array(D), shape: [D] },
    threshold: { data: new Float32Array(C).fill(0.05), shape: [C] },
  };
  const gemma = await gemmaScopeFromTensors(tensors, "mine", {}, { device: "reference" });
  const seedDict = await gemma.stateDict();
  const seed = await fromSeedStateDict(seedDict, {
    dictionaryParams: { normalization: "identity" },
  }, {
    device: "reference",
  });
  wDec.fill(9);
  seedDict["dictionary._weights"].data.fill(9);
  for (const m of [gemma, seed]) {
    const state = await m.stateDict();
    assertEquals([...state["dictionary._weights"].data], new Array(C * D).fill(0.5));
    m.dispose();
  }
});

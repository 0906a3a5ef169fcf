/** Training checkpoints on disk: checksums, the previous checkpoint, stale temporary files, kill -9. */
import { assert, assertEquals, assertRejects } from "./_io_assert.ts";
import { FormatError } from "../src/errors.ts";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../src/train/checkpoint.ts";
import { prng } from "./_fuzz.ts";
import { JumpSAE } from "../src/jump_sae.ts";
import { loadModel, saveModel } from "../src/pretrained/checkpoint.ts";

const ckpt = (step: number) => ({
  model: { w: { data: Float32Array.of(step, 2, 3), shape: [3] } },
  optimizer: { kind: "SGD", step, hyper: { lr: 0.1 }, buffers: {} },
  progress: { epoch: 0, batch: step, logs: { stepLoss: [NaN] } },
});

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_ckpt_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const names = async (dir: string) => {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
};

Deno.test("decodeCheckpoint() refuses a checkpoint whose bytes do not match its CRC-32", () => {
  const bytes = encodeCheckpoint(ckpt(4));
  assertEquals(decodeCheckpoint(bytes).optimizer.step, 4);
  // one flipped bit anywhere, in the tensors or in the header, is found
  for (const at of [bytes.length - 1, bytes.length - 12, 40, 100]) {
    const copy = bytes.slice();
    copy[at] ^= 0x04;
    let error: unknown;
    try {
      decodeCheckpoint(copy);
    } catch (e) {
      error = e;
    }
    assert(error instanceof FormatError, `byte ${at}: ${error}`);
  }
  const copy = bytes.slice();
  copy[bytes.length - 1] ^= 1;
  let message = "";
  try {
    decodeCheckpoint(copy, "checkpoint x");
  } catch (e) {
    message = (e as Error).message;
  }
  assert(
    /^checkpoint x has CRC-32 [0-9a-f]{8}, expected the crc32:[0-9a-f]{8} it records \(the file is corrupt\)$/
      .test(message),
    message,
  );
});

Deno.test("saveCheckpoint() keeps the previous checkpoint, loadCheckpoint() falls back to it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/run.ckpt`;
    await saveCheckpoint(path, ckpt(1));
    assertEquals(await names(dir), ["run.ckpt"]);
    await saveCheckpoint(path, ckpt(2));
    assertEquals(await names(dir), ["run.ckpt", "run.ckpt.prev"]);
    assertEquals((await loadCheckpoint(path)).optimizer.step, 2);
    // damage the newest: the previous one is used, and the error is reported
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 2] ^= 0x10;
    await Deno.writeFile(path, bytes);
    const errors: string[] = [];
    const original = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      assertEquals((await loadCheckpoint(path)).optimizer.step, 1);
    } finally {
      console.error = original;
    }
    assertEquals(errors.length, 1);
    assert(
      errors[0].includes("the file is corrupt") && errors[0].includes("run.ckpt.prev"),
      errors[0],
    );
    // both damaged: the newest one's error
    await Deno.writeFile(`${path}.prev`, bytes.subarray(0, 50));
    await assertRejects(() => loadCheckpoint(path), FormatError, "the file is corrupt");
    // a truncated newest, a sound previous
    await saveCheckpoint(`${dir}/b`, ckpt(7));
    await saveCheckpoint(`${dir}/b`, ckpt(8));
    await Deno.writeFile(`${dir}/b`, (await Deno.readFile(`${dir}/b`)).subarray(0, 30));
    console.error = () => {};
    try {
      assertEquals((await loadCheckpoint(`${dir}/b`)).optimizer.step, 7);
    } finally {
      console.error = original;
    }
  });
});

Deno.test("saveCheckpoint() removes the temporary files a killed save left, and only ours", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/run.ckpt`;
    await Deno.writeTextFile(`${path}.tmp-jumpsae-dead1`, "half a checkpoint");
    await Deno.writeTextFile(`${path}.prev.tmp-jumpsae-dead2`, "");
    await Deno.writeTextFile(`${path}.tmp-someone-else`, "not ours");
    await Deno.writeTextFile(`${dir}/other.ckpt.tmp-jumpsae-x`, "another target's");
    await saveCheckpoint(path, ckpt(3));
    assertEquals(await names(dir), [
      "other.ckpt.tmp-jumpsae-x",
      "run.ckpt",
      "run.ckpt.tmp-someone-else",
    ]);
  });
});

Deno.test("trainSae(): killed (SIGKILL) during checkpoint writes 20 times, resumes to the same result", async () => {
  const child = new URL("./_kill_child.ts", import.meta.url).pathname;
  const spawn = (dir: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", child, dir],
      stdout: "piped",
      stderr: "null",
    }).spawn();
  await withDir(async (whole) => {
    await withDir(async (dir) => {
      const reference = spawn(whole);
      await reference.stdout.cancel();
      assert((await reference.status).success, "the uninterrupted run failed");
      const rng = prng(20);
      let kills = 0;
      for (; kills < 20; kills++) {
        const proc = spawn(dir);
        const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
        const after = 1 + Math.floor(rng() * 3); // steps to let pass, then kill during the save
        let seen = 0, text = "", finished = false;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            finished = true;
            break;
          }
          text += value;
          seen = text.split("\n").length - 1;
          if (seen >= after) {
            proc.kill("SIGKILL");
            break;
          }
        }
        await reader.cancel().catch(() => {});
        const status = await proc.status;
        assert(finished || status.signal === "SIGKILL", `run ${kills} ended with ${status.code}`);
        if (finished) break;
      }
      assertEquals(kills, 20, "the run finished before 20 kills");
      const last = spawn(dir);
      await last.stdout.cancel();
      assert((await last.status).success, "the resumed run failed");
      const a = JSON.parse(await Deno.readTextFile(`${whole}/final.json`));
      const b = JSON.parse(await Deno.readTextFile(`${dir}/final.json`));
      assertEquals(b, a);
      assertEquals(await names(dir), [
        "final.json",
        "run.ckpt.safetensors",
        "run.ckpt.safetensors.prev",
      ]);
    });
  });
});

Deno.test("loadModel() compares the stored config with the tensor shapes before building anything", async () => {
  const sae = new JumpSAE(4, 6, { encoderModule: "mlp_bn_3", device: "reference", seed: 1 });
  const bytes = await saveModel(sae);
  sae.dispose();
  const withConfig = (edit: (c: Record<string, unknown>) => void) => {
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    const config = JSON.parse(header.__metadata__["jumpsae.config"]);
    edit(config);
    header.__metadata__["jumpsae.config"] = JSON.stringify(config);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + bytes.length - 8 - length);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(bytes.subarray(8 + length), 8 + json.length);
    return out;
  };
  const cases: [string, (c: Record<string, unknown>) => void, string][] = [
    ["1e8 concepts", (c) => c.nbConcepts = 1e8, "thresholds of shape [100000000], got [6]"],
    ["input dim 1e5", (c) => c.inputShape = 100_000, "dictionary._weights of shape [6, 100000]"],
    ["[4, 1e5, 1e5] is dim 4", (c) => c.inputShape = [4, 1e5, 1e5], ""],
    ["[1e5, 4]: dim 4", (c) => c.inputShape = [1e5, 4], ""],
  ];
  for (const [label, edit, text] of cases) {
    const file = withConfig(edit);
    assert(file.length < 8000, `${label}: ${file.length} bytes`);
    if (text) {
      await assertRejects(() => loadModel(file, { device: "reference" }), FormatError, text, label);
    } else (await loadModel(file, { device: "reference" })).dispose();
  }
});

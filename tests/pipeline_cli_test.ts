/** The CLI's data pipeline: encode and eval from .npz/.safetensors members, train from shards. */
import { deepEqual, equal, ok } from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { saveNpy } from "../src/io/npy.ts";
import { saveNpz } from "../src/io/npz.ts";
import { saveSafetensors } from "../src/io/safetensors.ts";
import { JumpSAE } from "../src/jump_sae.ts";
import { saveModel } from "../src/pretrained/mod.ts";
import { topKRows } from "../src/backends/_topk.ts";
import { withTempDir } from "./_pretrained_helpers.ts";

async function run(...argv: string[]) {
  const out: string[] = [], err: string[] = [];
  const status = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { status, out: out.join("\n"), err: err.join("\n") };
}

const D = 16, C = 40, N = 203;
const x = {
  data: new Float32Array(N * D).map((_, i) => Math.sin(i * 0.37) * 1.5 + Math.cos(i * 0.011)),
  shape: [N, D],
};

/** The stored members of a .npz written by the CLI, as raw bytes after their .npy header. */
function members(bytes: Uint8Array): Record<string, Uint8Array> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, Uint8Array> = {};
  for (let at = 0; v.getUint32(at, true) === 0x04034b50;) {
    const nameLength = v.getUint16(at + 26, true), extra = v.getUint16(at + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 30, at + 30 + nameLength));
    const size = Number(v.getBigUint64(at + 30 + nameLength + 4, true));
    const start = at + 30 + nameLength + extra;
    out[name] = bytes.subarray(start + 10 + v.getUint16(start + 8, true), start + size);
    at = start + size;
  }
  return out;
}

Deno.test("encode --top-k on the WASM backend: the selection of encode()'s codes, from .npy, .npz and .safetensors, pipelined", async () => {
  await withTempDir(async (dir) => {
    const sae = new JumpSAE(D, C, { encoderModule: "linear", seed: 5, device: "cpu", threads: 2 });
    sae.thresholds.initial = sae.thresholds.initial.map((_, i) => Math.log(0.2 + 0.1 * (i % 7)));
    sae.eval();
    await Deno.writeFile(`${dir}/model.safetensors`, await saveModel(sae));
    await Deno.writeFile(`${dir}/acts.npy`, saveNpy(x));
    await Deno.writeFile(`${dir}/acts.npz`, await saveNpz({ other: [1], acts: x }));
    await Deno.writeFile(`${dir}/acts.safetensors`, saveSafetensors({ acts: x }));
    const k = 6;
    const outputs: Uint8Array[] = [];
    for (
      const [input, rows] of [["acts.npy", "50"], ["acts.npz#acts", "64"], [
        "acts.safetensors",
        "203",
      ]]
    ) {
      const r = await run(
        "encode",
        `${dir}/model.safetensors`,
        `${dir}/${input}`,
        "-o",
        `${dir}/codes.npz`,
        "-k",
        String(k),
        "--chunk-rows",
        rows,
        "--device",
        "cpu",
      );
      equal(r.status, 0, r.err);
      outputs.push(await Deno.readFile(`${dir}/codes.npz`));
    }
    deepEqual(outputs[1], outputs[0]);
    deepEqual(outputs[2], outputs[0]);
    const { codes } = await sae.encode(x);
    const want = { v: new Float32Array(N * k), i: new Float32Array(N * k), n: new Float32Array(N) };
    topKRows(want.v, want.i, want.n, codes.data, N, C, k);
    const m = members(outputs[0]);
    deepEqual(new Int32Array(m["indices.npy"].slice().buffer), Int32Array.from(want.i));
    deepEqual(new Float32Array(m["values.npy"].slice().buffer), want.v);
    ok(want.i.includes(-1) && want.n.some((n) => n > k), "short rows and rows past k");
    sae.dispose();
  });
});

Deno.test("train from shards a.npy,b.npy runs as on the file they split; eval reads members", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/all.npy`, saveNpy(x));
    await Deno.writeFile(
      `${dir}/a.npy`,
      saveNpy({ data: x.data.subarray(0, 120 * D), shape: [120, D] }),
    );
    await Deno.writeFile(
      `${dir}/b.npy`,
      saveNpy({ data: x.data.subarray(120 * D), shape: [N - 120, D] }),
    );
    const train = (input: string, out: string, ...more: string[]) =>
      run(
        "train",
        input,
        "-o",
        `${dir}/${out}`,
        "-c",
        "24",
        "-e",
        "2",
        "-b",
        "32",
        "--device",
        "reference",
        ...more,
      );
    const whole = await train(`${dir}/all.npy`, "w.safetensors");
    const shards = await train(`${dir}/a.npy,${dir}/b.npy`, "s.safetensors");
    equal(whole.status, 0, whole.err);
    equal(shards.status, 0, shards.err);
    const epochs = (s: string) =>
      s.split("\n").filter((l) => l.startsWith("epoch")).map((l) => l.replace(/\S+s$/, ""));
    deepEqual(epochs(shards.out), epochs(whole.out));
    deepEqual(
      await Deno.readFile(`${dir}/s.safetensors`),
      await Deno.readFile(`${dir}/w.safetensors`),
    );
    const chunks = await train(
      `${dir}/all.npy`,
      "c.safetensors",
      "--shuffle-by",
      "chunks",
      "--buffer-rows",
      "64",
    );
    equal(chunks.status, 0, chunks.err);
    ok(JSON.stringify(epochs(chunks.out)) !== JSON.stringify(epochs(whole.out)), "another order");
    await Deno.writeFile(`${dir}/acts.npz`, await saveNpz({ acts: x }));
    const e1 = await run(
      "eval",
      `${dir}/w.safetensors`,
      `${dir}/all.npy`,
      "--json",
      "--chunk-rows",
      "30",
      "--device",
      "reference",
    );
    const e2 = await run(
      "eval",
      `${dir}/w.safetensors`,
      `${dir}/acts.npz`,
      "--json",
      "--chunk-rows",
      "30",
      "--device",
      "reference",
    );
    equal(e1.status, 0, e1.err);
    deepEqual(JSON.parse(e2.out), JSON.parse(e1.out));
    equal(JSON.parse(e1.out).tokens, N);
  });
});

/**
 * The thread pool in the situations users hit: a runtime without the SharedArrayBuffer global
 * (a page that is not cross-origin isolated) runs one thread over an ordinary memory; a Deno
 * script that never calls `dispose()` still exits; a model collected without `dispose()` stops
 * its workers; `using` disposes.
 */
import { equal, ok as assert, rejects } from "node:assert/strict";
import { JumpSAE } from "../mod.ts";

const x = {
  data: new Float32Array(8 * 16).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)),
  shape: [8, 16],
};

Deno.test("no SharedArrayBuffer global: cpu with threads 2 runs one thread, as the reference", async () => {
  const reference = new JumpSAE(16, 32, { seed: 5, device: "reference" });
  const want = await reference.forward(x);
  reference.dispose();
  const g = globalThis as { SharedArrayBuffer?: SharedArrayBufferConstructor };
  const saved = g.SharedArrayBuffer;
  delete g.SharedArrayBuffer;
  try {
    const sae = new JumpSAE(16, 32, { seed: 5, device: "cpu", threads: 2 });
    const got = await sae.forward(x);
    const backend = await sae.getBackend() as unknown as { name: string; threads: number };
    sae.dispose();
    equal(backend.name, "wasm");
    equal(backend.threads, 1);
    let diff = 0;
    for (let i = 0; i < want.xHat.data.length; i++) {
      diff = Math.max(diff, Math.abs(got.xHat.data[i] - want.xHat.data[i]));
    }
    assert(diff < 1e-5, `xHat differs from the reference by ${diff}`);
  } finally {
    g.SharedArrayBuffer = saved;
  }
});

Deno.test("a Deno script that never disposes its 2-thread model exits", async () => {
  const script = `import { JumpSAE } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
const sae = new JumpSAE(16, 32, { seed: 1, device: "cpu", threads: 2 });
const { codes } = await sae.forward({ data: new Float32Array(64).fill(0.5), shape: [4, 16] });
console.log((await sae.getBackend()).threads, codes.shape.join("x"));
`;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, script);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", file],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    equal(code, 0, new TextDecoder().decode(stderr));
    equal(new TextDecoder().decode(stdout).trim(), "2 4x32");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("using: the model is disposed at the end of the block", async () => {
  let outer: JumpSAE;
  {
    using sae = new JumpSAE(16, 32, { seed: 1, device: "cpu", threads: 2 });
    outer = sae;
    equal((await sae.forward(x)).codes.shape[1], 32);
  }
  await rejects(outer.getBackend(), /disposed/);
});

Deno.test("a model collected without dispose() stops its workers", async () => {
  const script = `import { JumpSAE } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
import { runningWorkerThreads } from ${
    JSON.stringify(new URL("../src/platform/workers.ts", import.meta.url).href)
  };
const use = async () => {
  const sae = new JumpSAE(16, 32, { seed: 1, device: "cpu", threads: 3 });
  await sae.forward({ data: new Float32Array(64).fill(0.5), shape: [4, 16] });
};
await use();
const before = runningWorkerThreads();
for (let i = 0; i < 200 && runningWorkerThreads() > 0; i++) {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 20));
}
console.log(before, runningWorkerThreads());
`;
  const file = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await Deno.writeTextFile(file, script);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--expose-gc", file],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    equal(code, 0, new TextDecoder().decode(stderr));
    equal(new TextDecoder().decode(stdout).trim(), "2 0");
  } finally {
    await Deno.remove(file);
  }
});

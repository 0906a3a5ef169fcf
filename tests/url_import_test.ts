/**
 * The library imports by URL: the repository is served over loopback HTTP and a fresh Deno
 * (empty DENO_DIR, no config, only `--allow-import` for that server and `--allow-read`) imports
 * `mod.ts` by its `http://` URL and runs `forward` on the CPU backend with 2 threads. The numbers
 * must equal those of the same model imported from disk in this process.
 */
import { deepEqual, equal, ok as assert } from "node:assert/strict";
import { createReferenceBackend, JumpSAE } from "../mod.ts";

const ROOT = new URL("../", import.meta.url);

const TYPES: Record<string, string> = {
  ts: "application/typescript; charset=utf-8",
  js: "application/javascript; charset=utf-8",
  mjs: "application/javascript; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
};

/** Serves the repository read-only on 127.0.0.1 (a free port); logs every request path. */
function serveRepository(log: string[]) {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
  }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    log.push(path);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(new URL(`.${path}`, ROOT));
      const type = TYPES[path.split(".").pop()!] ?? "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return { port: server.addr.port, close: async () => (controller.abort(), await server.finished) };
}

/** The model and input of both sides: a 2-thread CPU model on a fixed batch. */
const PROGRAM = (modUrl: string) => `
import { JumpSAE } from "${modUrl}";
const sae = new JumpSAE(24, 40, { seed: 7, device: "cpu", threads: 2 });
const x = { data: new Float32Array(6 * 24).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)), shape: [6, 24] };
const { preCodes, codes, xHat } = await sae.forward(x);
const backend = (await sae.getBackend()).name;
const out = { backend, preCodes: [...preCodes.data], codes: [...codes.data], xHat: [...xHat.data], shapes: [preCodes.shape, codes.shape, xHat.shape] };
sae.dispose();
console.log(JSON.stringify(out));
`;

/** Runs `program` (given the server's base URL) in a fresh Deno with an empty DENO_DIR. */
async function runRemote(port: number, dir: string, program: string): Promise<string> {
  await Deno.writeTextFile(`${dir}/main.ts`, program);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-config",
      "--no-lock",
      `--allow-import=127.0.0.1:${port}`,
      "--allow-read",
      "main.ts",
    ],
    cwd: dir,
    env: { DENO_DIR: `${dir}/deno_dir`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(code, 0, `deno run exited with ${code}:\n${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

Deno.test("mod.ts imports by http URL into an empty DENO_DIR and runs forward (cpu, 2 threads)", async () => {
  const log: string[] = [];
  const server = serveRepository(log);
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_url_import_" });
  try {
    const modUrl = `http://127.0.0.1:${server.port}/mod.ts`;
    const stdout = await runRemote(server.port, dir, PROGRAM(modUrl));
    const remote = JSON.parse(stdout);

    // The same program from disk, in this process.
    const sae = new JumpSAE(24, 40, { seed: 7, device: "cpu", threads: 2 });
    const x = {
      data: new Float32Array(6 * 24).map((_, i) => Math.sin(0.37 * i) + 0.05 * (i % 5)),
      shape: [6, 24],
    };
    const local = await sae.forward(x);
    const backend = (await sae.getBackend()).name;
    sae.dispose();
    equal(remote.backend, backend);
    deepEqual(remote.shapes, [[6, 40], [6, 40], [6, 24]]);
    deepEqual(remote.preCodes, [...local.preCodes.data]);
    deepEqual(remote.codes, [...local.codes.data]);
    deepEqual(remote.xHat, [...local.xHat.data]);
    assert(remote.xHat.some((v: number) => v !== 0), "xHat is all zeros");
    // The modules really came over HTTP, into the empty cache.
    assert(log.includes("/mod.ts") && log.includes("/src/jump_sae.ts"), log.join(" "));
    assert((await Deno.stat(`${dir}/deno_dir`)).isDirectory);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A GEMM on the WASM backend with 2 threads (workers loaded from the module's http URL). */
const WASM_PROGRAM = (base: string) => `
import { createWasmBackend } from "${base}/src/backends/wasm/mod.ts";
const be = await createWasmBackend({ threads: 2, simd: "plain", parallelMin: 0 });
const [m, n, k] = [37, 29, 53];
const A = be.alloc(m * k), B = be.alloc(k * n), O = be.alloc(m * n);
be.upload(A, new Float32Array(m * k).map((_, i) => Math.sin(0.1 * i)));
be.upload(B, new Float32Array(k * n).map((_, i) => Math.cos(0.07 * i)));
be.matmul(O, A, B, { m, n, k });
console.log(JSON.stringify({ backend: be.name, out: [...await be.download(O)] }));
be.dispose();
`;

Deno.test("the WASM backend imports by http URL and runs a GEMM on 2 threads (workers from http)", async () => {
  const log: string[] = [];
  const server = serveRepository(log);
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_url_wasm_" });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const remote = JSON.parse(await runRemote(server.port, dir, WASM_PROGRAM(base)));
    equal(remote.backend, "wasm");
    // The worker's code came over http (node:worker_threads then starts it from a data: URL).
    assert(
      log.includes("/src/backends/wasm/worker_main.ts"),
      `no worker fetched: ${log.join(" ")}`,
    );
    const ref = createReferenceBackend();
    const [m, n, k] = [37, 29, 53];
    const A = ref.alloc(m * k), B = ref.alloc(k * n), O = ref.alloc(m * n);
    ref.upload(A, new Float32Array(m * k).map((_, i) => Math.sin(0.1 * i)));
    ref.upload(B, new Float32Array(k * n).map((_, i) => Math.cos(0.07 * i)));
    ref.matmul(O, A, B, { m, n, k });
    const want = await ref.download(O);
    ref.dispose();
    equal(remote.out.length, m * n);
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < want.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(remote.out[i] - want[i]));
      maxRef = Math.max(maxRef, Math.abs(want[i]));
    }
    assert(maxDiff <= 1e-5 * maxRef, `max diff ${maxDiff} against max ${maxRef}`);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * `scripts/build_web.ts` (worker bundles next to the library bundle, URLs rewritten) and
 * `scripts/serve_web.ts` (COOP/COEP headers, content types, no way out of the served folder).
 */
import { equal, ok as assert } from "node:assert/strict";
import { buildWeb, stopBuilder } from "../scripts/build_web.ts";
import { ISOLATION_HEADERS, serveWeb } from "../scripts/serve_web.ts";

Deno.test({
  name: "buildWeb(): mod.ts and its WASM worker, and a literal worker URL rewritten to its bundle",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "jumpsae_build_web_" });
    try {
      // The library itself: its WASM worker (new URL("./worker.ts", …)) is bundled beside it.
      const sizes = await buildWeb({ out: `${dir}/lib` });
      for (const file of ["app.js", "jumpsae.js", "src_backends_wasm_worker.js"]) {
        assert(sizes[file] > 0, `${file} missing from ${Object.keys(sizes)}`);
      }
      const app = await Deno.readTextFile(`${dir}/lib/app.js`);
      assert(/from\s*"\.\/jumpsae\.js"/.test(app), "app.js does not import ./jumpsae.js");
      assert(!app.includes("class JumpSAE"), "app.js bundles the library instead of importing it");

      // A module that names its worker with new URL("./….ts", import.meta.url).
      await Deno.mkdir(`${dir}/src/workers`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/src/entry.ts`,
        `export const url = new URL("./workers/echo.ts", import.meta.url);\n` +
          `export function start(): Worker { return new Worker(url, { type: "module" }); }\n`,
      );
      await Deno.writeTextFile(
        `${dir}/src/workers/echo.ts`,
        `import { twice } from "../twice.ts";\n` +
          `self.onmessage = (e: MessageEvent) => self.postMessage(twice(e.data));\n`,
      );
      await Deno.writeTextFile(
        `${dir}/src/twice.ts`,
        `export const twice = (x: number) => 2 * x;\n`,
      );
      const built = await buildWeb({
        out: `${dir}/fixture`,
        entry: `${dir}/src/entry.ts`,
        minify: false,
      });
      const workerBundle = Object.keys(built).find((f) => f.endsWith("workers_echo.js"));
      assert(workerBundle, `no worker bundle in ${Object.keys(built)}`);
      const entry = await Deno.readTextFile(`${dir}/fixture/jumpsae.js`);
      assert(entry.includes(`new URL("./${workerBundle}", import.meta.url)`), entry);
      // The worker bundle holds its own imports.
      const worker = await Deno.readTextFile(`${dir}/fixture/${workerBundle}`);
      assert(/2 \* x/.test(worker) && !/import\s/.test(worker), worker);
    } finally {
      await stopBuilder();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("serveWeb(): COOP/COEP headers, types, index.html, 404 and no escape from the root", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jumpsae_serve_web_" });
  const root = `${dir}/site`;
  const controller = new AbortController();
  try {
    await Deno.mkdir(root);
    await Deno.writeTextFile(`${dir}/secret.txt`, "secret");
    await Deno.writeTextFile(`${root}/index.html`, "<!doctype html><p>hi</p>");
    await Deno.mkdir(`${root}/dist`);
    await Deno.writeTextFile(`${root}/dist/a.js`, "export const a = 1;");
    const { port, finished } = serveWeb({ port: 0, root, signal: controller.signal });
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: response.status, headers: response.headers, body: await response.text() };
    };
    const index = await get("/");
    equal(index.status, 200);
    equal(index.body, "<!doctype html><p>hi</p>");
    equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) {
      equal(index.headers.get(name), value, name);
    }
    const js = await get("/dist/a.js");
    equal(js.status, 200);
    equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    equal(js.headers.get("cross-origin-embedder-policy"), "require-corp");
    equal((await get("/missing.js")).status, 404);
    // Outside the root: refused, whether the URL parser or the server sees the "..".
    equal((await get("/dist/..%2f..%2fsecret.txt")).status, 400);
    equal((await get("/%2e%2e/secret.txt")).status, 404);
    controller.abort();
    await finished;

    // Without isolation headers (the one-thread case of the demo).
    const plain = new AbortController();
    const other = serveWeb({ port: 0, root, isolate: false, signal: plain.signal });
    const response = await fetch(`http://127.0.0.1:${other.port}/`);
    await response.body?.cancel();
    equal(response.status, 200);
    equal(response.headers.get("cross-origin-opener-policy"), null);
    plain.abort();
    await other.finished;
  } finally {
    controller.abort();
    await Deno.remove(dir, { recursive: true });
  }
});

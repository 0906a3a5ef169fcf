/**
 * Serves the demo page `examples/web/` on 127.0.0.1 with the headers that make it cross-origin
 * isolated (COOP `same-origin`, COEP `require-corp`), so that the WASM backend may use threads
 * (SharedArrayBuffer). Builds the bundles first unless `--no-build`.
 *
 * Usage: `deno task web [--port 8000] [--no-build]` (port 0: any free port)
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const WEB = fileURLToPath(new URL("../examples/web/", import.meta.url));

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  png: "image/png",
  svg: "image/svg+xml",
};

/** The headers that make a page cross-origin isolated. */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

/** Options of `serveWeb`. */
export interface ServeOptions {
  /** Port; 0 picks a free one. Default 8000. */
  port?: number;
  /** Folder served. Default `examples/web/`. */
  root?: string;
  /** Send the COOP/COEP headers. Default true. */
  isolate?: boolean;
  /** Stops the server. */
  signal?: AbortSignal;
}

/** Starts the static server; resolves to its port and a promise that settles when it stops. */
export function serveWeb(options: ServeOptions = {}): { port: number; finished: Promise<void> } {
  const root = options.root ?? WEB;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 8000,
    signal: options.signal,
    onListen() {},
  }, async (request) => {
    const headers = new Headers(options.isolate === false ? {} : ISOLATION_HEADERS);
    headers.set("cache-control", "no-store");
    let path = decodeURIComponent(new URL(request.url).pathname);
    if (path.endsWith("/")) path += "index.html";
    if (path.split("/").includes("..")) return new Response("bad path", { status: 400, headers });
    try {
      const body = await Deno.readFile(join(root, path));
      headers.set("content-type", TYPES[path.split(".").pop()!] ?? "application/octet-stream");
      return new Response(body, { headers });
    } catch {
      return new Response("not found", { status: 404, headers });
    }
  });
  return { port: server.addr.port, finished: server.finished };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--port");
  const port = at >= 0 ? Number(args[at + 1]) : 8000;
  if (!args.includes("--no-build")) {
    const { buildWeb, stopBuilder } = await import("./build_web.ts");
    try {
      const sizes = await buildWeb();
      console.log(`built ${Object.keys(sizes).length} files into examples/web/dist/`);
    } finally {
      await stopBuilder();
    }
  }
  const server = serveWeb({ port });
  console.log(`jumpsae demo: http://127.0.0.1:${server.port}/ (cross-origin isolated)`);
}

/**
 * The pieces of `scripts/build_npm.ts`: specifier rewriting, worker references, the guard against
 * the global `Deno`.
 */
import { deepEqual, equal } from "node:assert/strict";
import { bareDenoUses, rewriteSpecifiers, urlReferences } from "../scripts/build_npm.ts";

Deno.test("rewriteSpecifiers(): relative .ts imports, exports, dynamic imports and worker URLs", () => {
  const code = [
    `import { a } from "./a.ts";`,
    `export * from "../b/c.ts";`,
    `export { d } from './d.ts';`,
    `import "./side.ts";`,
    `const m = await import("./lazy.ts");`,
    `const w = new URL("./worker.ts", import.meta.url);`,
    `import x from "npm:pkg.ts";`,
    `import y from "https://example.com/y.ts";`,
    `const s = "./not_an_import.ts";`,
    `import z from "./z.d.ts.json";`,
  ].join("\n");
  equal(
    rewriteSpecifiers(code),
    [
      `import { a } from "./a.js";`,
      `export * from "../b/c.js";`,
      `export { d } from './d.js';`,
      `import "./side.js";`,
      `const m = await import("./lazy.js");`,
      `const w = new URL("./worker.js", import.meta.url);`,
      `import x from "npm:pkg.ts";`,
      `import y from "https://example.com/y.ts";`,
      `const s = "./not_an_import.ts";`,
      `import z from "./z.d.ts.json";`,
    ].join("\n"),
  );
});

Deno.test("urlReferences(): new URL(…, import.meta.url) to .ts files and siblingModule()", () => {
  const source = `
    const a = new URL("./worker.ts", import.meta.url);
    const b = new URL( '../x/y.ts' , import.meta.url );
    const c = siblingModule(import.meta.url, "worker");
    const d = new URL("./fixtures/", import.meta.url); // a folder, not a module
    const e = new URL("./data.bin", import.meta.url);
    const f = new URL("./other.ts", base);
  `;
  deepEqual(urlReferences(source), ["./worker.ts", "../x/y.ts", "./worker.ts"]);
});

Deno.test("bareDenoUses(): Deno.x is flagged, globalThis.Deno and g.Deno are not", () => {
  const code = [
    `const d = globalThis.Deno;`,
    `if (g.Deno?.stdout) g.Deno.stdout.writeSync(b);`,
    `const args = Deno.args;`,
    `myDeno.x();`,
    `  Deno.exit(1);`,
    `const $Deno = 1; $Deno.toString();`,
  ].join("\n");
  deepEqual(bareDenoUses(code), ["const args = Deno.args;", "Deno.exit(1);"]);
});

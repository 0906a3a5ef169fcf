/**
 * Every ```ts block of README.md runs as written: each is written to a temporary file whose
 * `"./mod.ts"` import points at this repository's mod.ts, and run with `deno run -A` in a child
 * process (its own empty folder as working directory, a time limit). Blocks marked ```ts ignore
 * are illustrative signatures and are skipped. And `deno doc --lint mod.ts` reports nothing.
 */
import { deepStrictEqual, ok } from "node:assert/strict";

const README = new URL("../README.md", import.meta.url);
const MOD = new URL("../mod.ts", import.meta.url).href;
const LIMIT_MS = 120_000;

/** The ```ts blocks of a Markdown text, with the line each starts on. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    if (end < 0) throw new SyntaxError(`README.md:${i + 1}: unclosed code block`);
    const lang = fence[1], info = fence[2].trim().split(/\s+/);
    if (lang === "ts" && !info.includes("ignore")) {
      blocks.push({ line: i + 1, code: lines.slice(i + 1, end).join("\n") });
    }
    i = end;
  }
  return blocks;
}

/** The block with its imports of `./mod.ts` pointed at the repository's mod.ts. */
function pointAtMod(code: string): string {
  return code.replaceAll(/(["'])\.\/mod\.ts\1/g, JSON.stringify(MOD));
}

Deno.test("tsBlocks(): ts blocks only, ignore skipped, line numbers; pointAtMod()", () => {
  const md = "a\n```ts\nx\ny\n```\n```sh\nls\n```\n```ts ignore\nf(): T\n```\n```ts\nz\n```\n";
  deepStrictEqual(tsBlocks(md), [{ line: 2, code: "x\ny" }, { line: 12, code: "z" }]);
  deepStrictEqual(
    pointAtMod(`import { A } from "./mod.ts";\nimport { B } from './mod.ts';`),
    `import { A } from ${JSON.stringify(MOD)};\nimport { B } from ${JSON.stringify(MOD)};`,
  );
});

const blocks = tsBlocks(await Deno.readTextFile(README));

Deno.test("README.md has ts blocks that import ./mod.ts", () => {
  ok(blocks.length >= 4, `${blocks.length} blocks`);
  for (const b of blocks) ok(b.code.includes(`"./mod.ts"`), `README.md:${b.line} imports ./mod.ts`);
});

for (const { line, code } of blocks) {
  Deno.test(`README.md:${line} runs`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "jumpsae_readme_" });
    try {
      const file = `${dir}/block_${line}.ts`;
      await Deno.writeTextFile(file, pointAtMod(code));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-lock", file],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(LIMIT_MS),
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      ok(out.success, `README.md:${line} exited ${out.code}\n${stdout}\n${stderr}`);
      ok(!/\bNaN\b|undefined/.test(stdout), `README.md:${line} printed ${stdout}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("deno doc --lint mod.ts: every public symbol documented, no private type exposed", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", "mod.ts"],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(LIMIT_MS),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const problems = text.split("\n").filter((l) => l.startsWith("error[")).slice(0, 20);
  ok(out.success, `deno doc --lint mod.ts exited ${out.code}:\n${problems.join("\n")}\n${text}`);
});

/**
 * Builds the WASM kernels (`assembly/`) with the pinned AssemblyScript compiler into
 * `src/backends/wasm/generated/kernels_{relaxed,plain}.ts`: the binary inlined as base64, headed
 * `// @generated` with a hash of the sources and flags, so that a URL import needs no fetch.
 *
 *   deno task build:wasm            rebuild and write
 *   deno task build:wasm --check    rebuild in memory; exit 1 when the committed files are stale
 *   deno task build:wasm --wat      also write kernels_{relaxed,plain}.wat to read the hot loops
 *
 * Both modes fail when a loop holds a non-zero `v128.const`: Binaryen folds splats of constants
 * into one, and V8 rebuilds it on every iteration (4× slower in the issue's measurement).
 *
 * Needs only the npm registry (npm:assemblyscript@0.27.37). The output is deterministic.
 */

// deno-lint-ignore no-import-prefix
import asc from "npm:assemblyscript@0.27.37/asc";

const ASC_VERSION = "0.27.37";
const root = new URL("../", import.meta.url);
const outDir = new URL("src/backends/wasm/generated/", root);

/** Flags common to both builds: stub runtime, imported shared memory up to 4 GiB, SIMD, threads. */
const COMMON_FLAGS = [
  "--runtime",
  "stub",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "17",
  "--maximumMemory",
  "65536",
  "--enable",
  "simd",
  "--enable",
  "threads",
  "-O3",
  "--noAssert",
];

/** The two builds, chosen at run time by `WebAssembly.validate`. */
export const BUILDS = {
  relaxed: [...COMMON_FLAGS, "--enable", "relaxed-simd"],
  plain: COMMON_FLAGS,
} as const;

/** Sorted kernel sources (assembly/*.ts, not the specs). */
async function sources(): Promise<{ name: string; text: string }[]> {
  const dir = new URL("assembly/", root);
  const out = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ts")) {
      out.push({ name: e.name, text: await Deno.readTextFile(new URL(e.name, dir)) });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Compiles one build in memory; returns the wasm bytes and the text format. */
async function compile(flags: readonly string[]): Promise<{ wasm: Uint8Array; wat: string }> {
  const files: Record<string, Uint8Array | string> = {};
  const stderr: string[] = [];
  const { error } = await asc.main(
    ["assembly/index.ts", ...flags, "--outFile", "out.wasm", "--textFile", "out.wat"],
    {
      readFile: async (name: string, baseDir: string) => {
        try {
          return await Deno.readTextFile(new URL(`${baseDir}/${name}`.replace(/^\.?\//, ""), root));
        } catch {
          return null;
        }
      },
      writeFile: (name: string, contents: Uint8Array | string) => {
        files[name] = contents;
      },
      listFiles: () => [],
      stdout: { write: (s: string) => stderr.push(String(s)) },
      stderr: { write: (s: string) => stderr.push(String(s)) },
    },
  );
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.join("")}`);
  const wasm = files["out.wasm"], wat = files["out.wat"];
  if (!(wasm instanceof Uint8Array) || typeof wat !== "string") {
    throw new Error(`expected out.wasm and out.wat from asc, got ${Object.keys(files).join(", ")}`);
  }
  return { wasm, wat };
}

/**
 * Names the functions whose loops hold a non-zero `v128.const` in the text format (`loop`,
 * `block` and `if` open a scope, `end` closes one).
 */
export function constantsInLoops(wat: string): string[] {
  const found = new Set<string>();
  const scopes: boolean[] = [];
  let fn = "";
  for (const raw of wat.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("(func ")) {
      fn = line.split(" ")[1];
      scopes.length = 0;
    } else if (/^(loop|block|if)\b/.test(line)) scopes.push(line.startsWith("loop"));
    else if (line === "end" || line.startsWith("end ")) scopes.pop();
    else if (line.startsWith("v128.const") && scopes.includes(true)) {
      if (!/^v128\.const i32x4( 0x00000000){4}$/.test(line)) found.add(fn);
    }
  }
  return [...found];
}

/** The generated module text for one build. */
async function generate(kind: keyof typeof BUILDS): Promise<{ text: string; wat: string }> {
  const flags = BUILDS[kind];
  const src = await sources();
  const hash = await sha256(
    JSON.stringify({ asc: ASC_VERSION, flags, sources: src.map((s) => [s.name, s.text]) }),
  );
  const { wasm, wat } = await compile(flags);
  const trapped = constantsInLoops(wat);
  if (trapped.length > 0) {
    throw new Error(
      `Expected no non-zero v128.const inside loops (${kind} build), found in ${
        trapped.join(", ")
      }`,
    );
  }
  const text = `// @generated by scripts/build_wasm.ts (assemblyscript ${ASC_VERSION}); do not edit.
// source-hash: ${hash}
// flags: ${flags.join(" ")}

/** Hash of the kernel sources, the compiler version and the flags of this build. */
export const SOURCE_HASH = "${hash}";

/** The ${kind} SIMD build of assembly/index.ts (${wasm.length} bytes), base64. */
export const WASM_BASE64 =
  "${base64(wasm)}";
`;
  return { text, wat };
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const wat = Deno.args.includes("--wat");
  let stale = 0;
  for (const kind of Object.keys(BUILDS) as (keyof typeof BUILDS)[]) {
    const file = new URL(`kernels_${kind}.ts`, outDir);
    const out = await generate(kind);
    if (check) {
      let current = "";
      try {
        current = await Deno.readTextFile(file);
      } catch { /* missing counts as stale */ }
      if (current !== out.text) {
        console.error(`stale: ${file.pathname} (run deno task build:wasm)`);
        stale++;
      } else {
        console.log(`up to date: kernels_${kind}.ts`);
      }
    } else {
      await Deno.mkdir(outDir, { recursive: true });
      await Deno.writeTextFile(file, out.text);
      console.log(`wrote ${file.pathname}`);
      if (wat) {
        await Deno.writeTextFile(`kernels_${kind}.wat`, out.wat);
        console.log(`wrote kernels_${kind}.wat`);
      }
    }
  }
  if (stale > 0) Deno.exit(1);
}

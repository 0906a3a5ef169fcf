/** Whole-file reads and atomic writes (temporary file + rename) in Deno and Node. */
import { fileSize, readFileRange, writeFile } from "../platform/fs.ts";

interface RenameApi {
  rename(from: string, to: string): Promise<void>;
  remove?(path: string): Promise<void>;
  unlink?(path: string): Promise<void>;
}

async function fsApi(): Promise<RenameApi> {
  const d = (globalThis as { Deno?: RenameApi }).Deno;
  if (d) return d;
  const specifier = "node:fs/promises";
  return await import(specifier) as RenameApi;
}

/** Whether a file exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await fileSize(path);
    return true;
  } catch (e) {
    const code = (e as { code?: string; name?: string }).code ?? (e as { name?: string }).name;
    if (code === "ENOENT" || code === "NotFound") return false;
    throw e;
  }
}

/** Reads a whole file. */
export async function readWhole(path: string): Promise<Uint8Array> {
  return readFileRange(path, 0, await fileSize(path));
}

/** Writes `bytes` to `path.tmp-…` then renames it over `path`, so readers never see half a file. */
export async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Date.now().toString(36)}-${
    Math.floor(Math.random() * 1e9).toString(36)
  }`;
  const api = await fsApi();
  try {
    await writeFile(tmp, bytes);
    await api.rename(tmp, path);
  } catch (e) {
    await (api.remove ?? api.unlink)?.call(api, tmp).catch(() => {});
    throw e;
  }
}

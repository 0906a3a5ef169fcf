/**
 * Whole-file reads and durable atomic writes in Deno and Node: the bytes go to a temporary file
 * of our own naming (`<name>.tmp-jumpsae-<random>`), which is flushed to disk (fsync), renamed
 * over the target, and the folder is flushed too, so a kill or a power loss leaves either the
 * old file or the new one, never a half or an empty one. Stale temporary files of that naming
 * (left by a killed write) are removed by the next write to the same target.
 */
import { fileSize, readFileRange } from "../platform/fs.ts";

/** The part of Deno's API used here. */
interface DenoFs {
  open(path: string, options: Record<string, boolean>): Promise<DenoFile>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  readDir(path: string): AsyncIterable<{ name: string }>;
}
interface DenoFile {
  write(bytes: Uint8Array): Promise<number>;
  sync(): Promise<void>;
  close(): void;
}
/** The part of `node:fs/promises` used here. */
interface NodeFs {
  open(path: string, flags: string): Promise<NodeFile>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
}
interface NodeFile {
  write(bytes: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The operations, over Deno or Node. */
interface Fs {
  writeSynced(path: string, bytes: Uint8Array): Promise<void>;
  syncFolder(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  link(from: string, to: string): Promise<void>;
  list(folder: string): Promise<string[]>;
}

async function fsApi(): Promise<Fs> {
  const d = (globalThis as { Deno?: DenoFs }).Deno;
  if (d) {
    return {
      async writeSynced(path, bytes) {
        const file = await d.open(path, { write: true, create: true, truncate: true });
        try {
          for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
          await file.sync();
        } finally {
          file.close();
        }
      },
      async syncFolder(path) {
        const folder = await d.open(path, { read: true });
        try {
          await folder.sync();
        } finally {
          folder.close();
        }
      },
      rename: (from, to) => d.rename(from, to),
      remove: (path) => d.remove(path),
      link: (from, to) => d.link(from, to),
      async list(folder) {
        const names: string[] = [];
        for await (const entry of d.readDir(folder)) names.push(entry.name);
        return names;
      },
    };
  }
  const specifier = "node:fs/promises";
  const n = await import(specifier) as NodeFs;
  return {
    async writeSynced(path, bytes) {
      const file = await n.open(path, "w");
      try {
        for (let at = 0; at < bytes.length;) {
          at += (await file.write(bytes, at, bytes.length - at)).bytesWritten;
        }
        await file.sync();
      } finally {
        await file.close();
      }
    },
    async syncFolder(path) {
      const folder = await n.open(path, "r");
      try {
        await folder.sync();
      } finally {
        await folder.close();
      }
    },
    rename: (from, to) => n.rename(from, to),
    remove: (path) => n.unlink(path),
    link: (from, to) => n.link(from, to),
    list: (folder) => n.readdir(folder),
  };
}

/** The infix of our temporary files: `<name>.tmp-jumpsae-<random>`. */
export const TEMP_INFIX = ".tmp-jumpsae-";

function split(path: string): { folder: string; name: string } {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0
    ? { folder: ".", name: path }
    : { folder: path.slice(0, cut) || "/", name: path.slice(cut + 1) };
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

/** Flushes a folder's entries (renames) to disk, where the platform can (not on Windows). */
async function syncFolder(fs: Fs, folder: string): Promise<void> {
  try {
    await fs.syncFolder(folder);
  } catch (e) {
    const code = (e as { code?: string }).code ?? (e as { name?: string }).name;
    if (
      !/EISDIR|EPERM|EACCES|EINVAL|PermissionDenied|IsADirectory|NotSupported/.test(String(code))
    ) {
      throw e;
    }
  }
}

/** Where `writeAtomic(path, bytes, { keepPrevious: true })` keeps the file it replaced. */
export function previousPath(path: string): string {
  return `${path}.prev`;
}

/**
 * Writes `bytes` to `path` durably and atomically: temporary file, fsync, rename, fsync of the
 * folder. With `keepPrevious`, the file it replaces stays as `previousPath(path)` (a hard link
 * made before the rename, so `path` itself is never missing). Stale temporary files of `path`
 * are removed first.
 */
export async function writeAtomic(
  path: string,
  bytes: Uint8Array,
  options: { keepPrevious?: boolean } = {},
): Promise<void> {
  const fs = await fsApi();
  const { folder, name } = split(path);
  await removeStaleTemps(fs, folder, name);
  const random = () => Math.floor(Math.random() * 2 ** 32).toString(36);
  const tmp = `${path}${TEMP_INFIX}${random()}${random()}`;
  try {
    await fs.writeSynced(tmp, bytes);
    if (options.keepPrevious && await exists(path)) {
      const link = `${previousPath(path)}${TEMP_INFIX}${random()}`;
      await fs.link(path, link);
      await fs.rename(link, previousPath(path));
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.remove(tmp).catch(() => {});
    throw e;
  }
  await syncFolder(fs, folder);
}

async function removeStaleTemps(fs: Fs, folder: string, name: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.list(folder);
  } catch {
    return; // a missing folder: the write itself will say so
  }
  for (const entry of names) {
    const ours = entry.startsWith(`${name}${TEMP_INFIX}`) ||
      entry.startsWith(`${previousPath(name)}${TEMP_INFIX}`);
    if (ours) {
      await fs.remove(`${folder}/${entry}`).catch(() => {});
    }
  }
}

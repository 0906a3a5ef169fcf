/**
 * Minimal file access for Deno and Node: Deno's APIs when `globalThis.Deno` exists, else
 * `node:fs/promises` loaded with a dynamic import (so that browsers, which never call these
 * functions, never load it).
 *
 * @module
 */

/** A file opened for positional reads. */
export interface ReadableFile {
  /** Size of the file in bytes, when it was opened. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; a RangeError if the file ends first. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Fills all of `target` with the bytes at `offset` (one large read, no copy); a RangeError if the file ends first. */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  /** Closes the file; later reads reject. */
  close(): Promise<void>;
}

/** A file opened for writing, created or truncated. */
export interface WritableFile {
  /** Writes all of `bytes` at `offset` (or at the end of what was written so far). */
  write(bytes: Uint8Array, offset?: number): Promise<void>;
  /** Closes the file. */
  close(): Promise<void>;
}

// Minimal structural types of the Deno and Node APIs used here, so that this file type-checks
// without either runtime's declarations.
interface DenoFile {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  seek(offset: number, whence: number): Promise<number>;
  stat(): Promise<{ size: number }>;
  close(): void;
}
interface DenoApi {
  open(path: string, options: Record<string, boolean>): Promise<DenoFile>;
  stat(path: string): Promise<{ size: number }>;
  writeFile(path: string, data: Uint8Array, options?: { append?: boolean }): Promise<void>;
}
interface NodeHandle {
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>;
  write(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  stat(): Promise<{ size: number }>;
  close(): Promise<void>;
}
interface NodeFs {
  open(path: string, flags: string): Promise<NodeHandle>;
  stat(path: string): Promise<{ size: number }>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  appendFile(path: string, data: Uint8Array): Promise<void>;
}

const SEEK_START = 0;

function deno(): DenoApi | undefined {
  return (globalThis as { Deno?: DenoApi }).Deno;
}

let nodeFs: Promise<NodeFs> | undefined;
function node(): Promise<NodeFs> {
  const specifier = "node:fs/promises";
  nodeFs ??= import(specifier) as Promise<NodeFs>;
  return nodeFs;
}

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== "string" || path.length === 0) {
    throw new TypeError(`path must be a non-empty string, got ${JSON.stringify(path)}`);
  }
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`offset must be a non-negative integer, got ${offset}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`length must be a non-negative integer, got ${length}`);
  }
}

function checkTarget(target: unknown): Uint8Array {
  if (!(target instanceof Uint8Array)) {
    throw new TypeError(
      `target must be a Uint8Array, got ${Object.prototype.toString.call(target)}`,
    );
  }
  return target;
}

/**
 * Size of a file in bytes.
 *
 * @param path The file's path.
 * @returns Its size.
 *
 * @example Size of a file
 * ```ts ignore
 * import { fileSize } from "./fs.ts";
 * console.log(await fileSize("weights.npy"));
 * ```
 */
export async function fileSize(path: string): Promise<number> {
  checkPath(path);
  const d = deno();
  return d ? (await d.stat(path)).size : (await (await node()).stat(path)).size;
}

/**
 * Opens a file for positional reads.
 *
 * @param path The file's path.
 * @returns The open file; close it when done.
 *
 * @example Reading a header
 * ```ts ignore
 * import { openForRead } from "./fs.ts";
 * const file = await openForRead("weights.npy");
 * const magic = await file.read(0, 6);
 * await file.close();
 * ```
 */
export async function openForRead(path: string): Promise<ReadableFile> {
  checkPath(path);
  const d = deno();
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  const guard = (offset: number, length: number, size: number) => {
    if (closed) throw new TypeError(`file ${path} is closed, expected an open file`);
    checkRange(offset, length);
    if (offset + length > size) {
      throw new RangeError(
        `file ${path} has ${size} bytes, expected at least ${
          offset + length
        } to read ${length} at ${offset}`,
      );
    }
  };
  if (d) {
    const file = await d.open(path, { read: true });
    const { size } = await file.stat();
    // Seek and read must not interleave between concurrent calls: chain them.
    const read = async (offset: number, out: Uint8Array): Promise<Uint8Array> => {
      const length = out.length;
      guard(offset, length, size);
      await file.seek(offset, SEEK_START);
      let filled = 0;
      while (filled < length) {
        const n = await file.read(out.subarray(filled));
        if (n === null) {
          throw new RangeError(
            `file ${path} ended after ${offset + filled} bytes, expected ${offset + length}`,
          );
        }
        filled += n;
      }
      return out;
    };
    return {
      size,
      read(offset, length) {
        const result = queue.then(() => {
          checkRange(offset, length);
          return read(offset, new Uint8Array(length));
        });
        queue = result.catch(() => {});
        return result;
      },
      readInto(offset, target) {
        const result = queue.then(() => read(offset, checkTarget(target)));
        queue = result.catch(() => {});
        return result.then(() => {});
      },
      async close() {
        if (closed) return;
        closed = true;
        await queue;
        file.close();
      },
    };
  }
  const handle = await (await node()).open(path, "r");
  const { size } = await handle.stat();
  const read = async (offset: number, out: Uint8Array): Promise<Uint8Array> => {
    const length = out.length;
    guard(offset, length, size);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await handle.read(out, filled, length - filled, offset + filled);
      if (bytesRead === 0) {
        throw new RangeError(
          `file ${path} ended after ${offset + filled} bytes, expected ${offset + length}`,
        );
      }
      filled += bytesRead;
    }
    return out;
  };
  return {
    size,
    async read(offset, length) {
      checkRange(offset, length);
      return await read(offset, new Uint8Array(length));
    },
    async readInto(offset, target) {
      await read(offset, checkTarget(target));
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/**
 * Reads `length` bytes of a file starting at byte `offset`, without reading the rest.
 *
 * @param path The file's path.
 * @param offset First byte to read.
 * @param length Number of bytes; a RangeError if the file is shorter.
 * @returns The bytes.
 *
 * @example Reading the magic string of a .npy file
 * ```ts ignore
 * import { readFileRange } from "./fs.ts";
 * const magic = await readFileRange("weights.npy", 0, 6);
 * ```
 */
export async function readFileRange(
  path: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const file = await openForRead(path);
  try {
    return await file.read(offset, length);
  } finally {
    await file.close();
  }
}

/**
 * Creates (or truncates) a file and opens it for writing at any position.
 *
 * @param path The file's path.
 * @returns The open file; close it when done.
 *
 * @example Writing then patching a header
 * ```ts ignore
 * import { openForWrite } from "./fs.ts";
 * const file = await openForWrite("out.bin");
 * await file.write(new Uint8Array(8));
 * await file.write(new Uint8Array([1, 2, 3]));
 * await file.write(new Uint8Array([9]), 0);
 * await file.close();
 * ```
 */
export async function openForWrite(path: string): Promise<WritableFile> {
  checkPath(path);
  const d = deno();
  let end = 0;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const result = queue.then(() => {
      if (closed) throw new TypeError(`file ${path} is closed, expected an open file`);
      return task();
    });
    queue = result.catch(() => {});
    return result;
  };
  if (d) {
    const file = await d.open(path, { write: true, create: true, truncate: true });
    return {
      write(bytes, offset) {
        return serial(async () => {
          const at = offset ?? end;
          checkRange(at, bytes.length);
          await file.seek(at, SEEK_START);
          let written = 0;
          while (written < bytes.length) written += await file.write(bytes.subarray(written));
          end = Math.max(end, at + bytes.length);
        });
      },
      async close() {
        if (closed) return;
        await serial(() => Promise.resolve());
        closed = true;
        file.close();
      },
    };
  }
  const handle = await (await node()).open(path, "w");
  return {
    write(bytes, offset) {
      return serial(async () => {
        const at = offset ?? end;
        checkRange(at, bytes.length);
        let written = 0;
        while (written < bytes.length) {
          const r = await handle.write(bytes, written, bytes.length - written, at + written);
          written += r.bytesWritten;
        }
        end = Math.max(end, at + bytes.length);
      });
    },
    async close() {
      if (closed) return;
      await serial(() => Promise.resolve());
      closed = true;
      await handle.close();
    },
  };
}

/**
 * Writes a whole file, replacing it if it exists.
 *
 * @param path The file's path.
 * @param bytes The content.
 *
 * @example Saving a safetensors file
 * ```ts ignore
 * import { writeFile } from "./fs.ts";
 * await writeFile("model.safetensors", new Uint8Array([0]));
 * ```
 */
export async function writeFile(path: string, bytes: Uint8Array): Promise<void> {
  checkPath(path);
  const d = deno();
  if (d) await d.writeFile(path, bytes);
  else await (await node()).writeFile(path, bytes);
}

/**
 * Appends bytes to a file, creating it if needed.
 *
 * @param path The file's path.
 * @param bytes The bytes to add.
 *
 * @example Appending a log line
 * ```ts ignore
 * import { appendFile } from "./fs.ts";
 * await appendFile("log.txt", new TextEncoder().encode("step 1\n"));
 * ```
 */
export async function appendFile(path: string, bytes: Uint8Array): Promise<void> {
  checkPath(path);
  const d = deno();
  if (d) await d.writeFile(path, bytes, { append: true });
  else await (await node()).appendFile(path, bytes);
}

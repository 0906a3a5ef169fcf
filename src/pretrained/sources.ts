/**
 * Where pretrained files come from: a local directory or file, an http(s) URL, or files given
 * in memory. A source is read lazily, one named file at a time.
 *
 * @module
 */

import { fileSize, readFileRange } from "../platform/fs.ts";

/** A directory or file path, an `http(s)://` URL, or files in memory (name → bytes or text). */
export type PretrainedSource = string | URL | { files: Record<string, Uint8Array | string> };

/** An opened source: files read on demand by name. */
export interface FileSet {
  /** The source, for error messages. */
  readonly where: string;
  /** When the source names one file: its name (the last path segment). */
  readonly single?: string;
  /** The bytes of a file, or undefined when the source has no such file. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** For a path that is not a directory of known files: the file itself. */
  whole?(): Promise<Uint8Array | undefined>;
}

/** Options of `openSource`. */
export interface SourceOptions {
  /** The fetch function for URLs (default `globalThis.fetch`). */
  fetch?: typeof fetch;
}

const FILE_EXTENSIONS = /\.(safetensors|npz|json|pt|bin)$/i;

/**
 * Opens a source.
 *
 * @param source A path, URL or `{ files }`.
 * @param options The fetch function for URLs.
 * @returns The file set.
 *
 * @example Files in memory
 * ```ts
 * import { openSource } from "./sources.ts";
 * const set = openSource({ files: { "cfg.json": "{}" } });
 * console.log(new TextDecoder().decode(await set.get("cfg.json"))); // {}
 * ```
 */
export function openSource(source: PretrainedSource, options: SourceOptions = {}): FileSet {
  if (source instanceof URL) return openUrl(source, options);
  if (typeof source === "string") {
    if (source.length === 0) {
      throw new TypeError("source must be a path, a URL or { files }, got an empty string");
    }
    if (/^https?:\/\//i.test(source)) return openUrl(new URL(source), options);
    if (/^file:\/\//i.test(source)) return openPath(decodeURIComponent(new URL(source).pathname));
    return openPath(source);
  }
  if (source !== null && typeof source === "object" && "files" in source) {
    return openMemory(source.files);
  }
  throw new TypeError(
    `source must be a path, a URL or { files }, got ${source === null ? "null" : typeof source}`,
  );
}

function basename(name: string): string {
  return name.replace(/[\\/]+$/, "").split(/[\\/]/).pop() ?? name;
}

function openMemory(files: Record<string, Uint8Array | string>): FileSet {
  if (files === null || typeof files !== "object" || Array.isArray(files)) {
    throw new TypeError(
      `source.files must be an object of name → bytes or text, got ${
        files === null ? "null" : typeof files
      }`,
    );
  }
  const byName = new Map<string, Uint8Array>();
  for (const [name, value] of Object.entries(files)) {
    if (typeof value === "string") byName.set(basename(name), new TextEncoder().encode(value));
    else if (value instanceof Uint8Array) byName.set(basename(name), value);
    else {throw new TypeError(
        `source.files["${name}"] must be a Uint8Array or a string, got ${typeof value}`,
      );}
  }
  if (byName.size === 0) throw new TypeError("source.files must hold at least one file, got none");
  const names = [...byName.keys()];
  return {
    where: `files { ${names.join(", ")} }`,
    single: names.length === 1 ? names[0] : undefined,
    get: (name) => Promise.resolve(byName.get(name)),
  };
}

function openUrl(url: URL, options: SourceOptions): FileSet {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`source URL must be http(s), got ${url.protocol}`);
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== "function") {
    throw new TypeError("Fetching a URL needs fetch, got none in this runtime");
  }
  const single = FILE_EXTENSIONS.test(url.pathname) ? basename(url.pathname) : undefined;
  const base = single ? url : new URL(url.pathname.endsWith("/") ? url.href : `${url.href}/`);
  const where = url.href;
  return {
    where,
    single,
    async get(name) {
      const target = single
        ? (name === single ? url : undefined)
        : new URL(encodeURIComponent(name), base);
      if (!target) return undefined;
      let response: Response;
      try {
        response = await doFetch(target.href);
      } catch (error) {
        throw new TypeError(
          `Fetching ${target.href} failed: ${error instanceof Error ? error.message : error}`,
        );
      }
      if (response.status === 404) {
        await response.body?.cancel();
        return undefined;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new TypeError(
          `Fetching ${target.href} gave HTTP ${response.status} ${response.statusText}, expected 200`,
        );
      }
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  let size: number;
  try {
    size = await fileSize(path);
  } catch {
    return undefined;
  }
  try {
    return await readFileRange(path, 0, size);
  } catch (error) {
    // a directory has a size but cannot be read as a file
    if (/directory|EISDIR/i.test(String(error))) return undefined;
    throw error;
  }
}

function openPath(path: string): FileSet {
  const single = FILE_EXTENSIONS.test(path) ? basename(path) : undefined;
  const dir = path.replace(/[\\/]+$/, "");
  return {
    where: path,
    single,
    get(name) {
      if (single) return name === single ? readFileOrThrow(path) : Promise.resolve(undefined);
      return readIfExists(`${dir}/${name}`);
    },
    whole: () => readIfExists(path),
  };
}

async function readFileOrThrow(path: string): Promise<Uint8Array> {
  const bytes = await readIfExists(path);
  if (!bytes) throw new TypeError(`Cannot read ${path}: no such file`);
  return bytes;
}

/**
 * The one check of options objects: every public function that takes `options` calls
 * `checkOptions` first, so that a mistyped or foreign key (`epochs`, `nb_epochs`,
 * `weight_decay`) is a TypeError naming the nearest valid key instead of being ignored.
 *
 * @module
 */

/** Levenshtein distance of two strings. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = row;
  }
  return prev[b.length];
}

/** `snake_case` and `kebab-case` as camelCase; lower case without separators to compare. */
const camel = (key: string) =>
  key.replace(/[_-]+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
const plain = (key: string) => key.replace(/[_-]/g, "").toLowerCase();

/**
 * The valid key nearest to `key`, or undefined when none is close: its camelCase spelling, the
 * same letters in another case, a key that contains it or is contained (`epochs` → `nbEpochs`),
 * else the nearest within a third of its length.
 */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  const c = camel(key);
  if (valid.includes(c)) return c;
  const p = plain(key);
  const same = valid.find((v) => plain(v) === p);
  if (same) return same;
  if (p.length >= 3) {
    const inside = valid.find((v) => plain(v).includes(p) || p.includes(plain(v)));
    if (inside) return inside;
  }
  let best: string | undefined, bestD = Infinity;
  for (const v of valid) {
    const d = distance(p, plain(v));
    if (d < bestD) [best, bestD] = [v, d];
  }
  return bestD <= Math.max(1, Math.floor(p.length / 3)) ? best : undefined;
}

/** How a value that is not an options object reads in a message. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return `the ${typeof value} ${String(value)}`;
  }
  return typeof value;
}

/**
 * Throws unless `options` is undefined or an object whose own keys are all in `valid`.
 *
 * @param options What the caller passed.
 * @param valid The accepted keys.
 * @param who The call, for messages (`"trainSae options"`, `"new Adam(model, options)"`).
 * @param positional The key a bare number or string means (`"lr"` for optimizers): a caller
 *   who passes `5e-4` is shown `{ lr: 0.0005 }`.
 * @throws TypeError `unknown option \`epochs\` of trainSae options; did you mean \`nbEpochs\`?`
 *
 * @example A misspelt key
 * ```ts
 * import { checkOptions } from "./_options.ts";
 * try {
 *   checkOptions({ epochs: 2 }, ["nbEpochs", "scheduler"], "trainSae options");
 * } catch (e) {
 *   console.log((e as Error).message); // unknown option `epochs` of trainSae options; did you mean `nbEpochs`? ...
 * }
 * ```
 */
export function checkOptions(
  options: unknown,
  valid: readonly string[],
  who: string,
  positional?: string,
): void {
  if (options === undefined) return;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    const hint = positional !== undefined &&
        (typeof options === "number" || typeof options === "string")
      ? `: write { ${positional}: ${JSON.stringify(options)} }`
      : "";
    throw new TypeError(`${who} must be an object, got ${describe(options)}${hint}`);
  }
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const near = nearestKey(key, valid);
    throw new TypeError(
      `unknown option \`${key}\` of ${who}; ${
        near ? `did you mean \`${near}\`? ` : ""
      }expected one of ${valid.join(", ")}`,
    );
  }
}

/**
 * The keys of an options type `T` as a list, checked by the compiler to name every key of `T`
 * (a key added to the interface and not here is a type error at the list), so that
 * `checkOptions` never refuses a valid option.
 *
 * @example
 * ```ts
 * import { keysOf } from "./_options.ts";
 * interface O { a?: number; b?: string }
 * const keys = keysOf<O>()(["a", "b"]); // ["a"] alone: a type error naming "b"
 * ```
 */
export function keysOf<T>(): <const K extends readonly (keyof T & string)[]>(
  keys:
    & K
    & ([Exclude<keyof T, K[number]>] extends [never] ? unknown : {
      missing: Exclude<keyof T, K[number]>;
    }),
) => K {
  return (keys) => keys;
}

/**
 * `options` with `bandwidth` (the constructor's other spelling) moved to `bandwith`; a
 * RangeError when both are given and differ.
 */
export function withBandwith<T extends { bandwith?: number }>(
  options: T & { bandwidth?: number },
  who: string,
): T {
  if (options.bandwidth === undefined) return options;
  if (options.bandwith !== undefined && options.bandwith !== options.bandwidth) {
    throw new RangeError(
      `${who} has bandwith ${options.bandwith} and bandwidth ${options.bandwidth}, expected one`,
    );
  }
  const { bandwidth, ...rest } = options;
  return { ...rest, bandwith: bandwidth } as unknown as T;
}

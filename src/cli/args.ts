/**
 * A small hand-written command-line parser: `--name value`, `--name=value`, boolean flags
 * (`--flag`, `--no-flag`), short aliases (`-o out`), positionals, and `--` to end options.
 *
 * @module
 */

/** The kind of value an option takes. */
export type OptionKind = "string" | "number" | "integer" | "boolean" | "bytes";

/** One option of a command. */
export interface OptionSpec {
  kind: OptionKind;
  /** One-line description for `--help`. */
  help: string;
  /** Single-letter alias, e.g. `o` for `-o`. */
  alias?: string;
  /** Default value (shown in `--help`). */
  default?: string | number | boolean;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** Placeholder in `--help`, e.g. `PATH`. */
  meta?: string;
}

/** A command: its positionals and options. */
export interface CommandSpec {
  name: string;
  /** One-line summary. */
  summary: string;
  /** Positional arguments, in order; a trailing `?` marks an optional one. */
  positionals: readonly string[];
  options: Record<string, OptionSpec>;
  /** Extra text after the options in `--help` (examples). */
  epilog?: string;
}

/** Parsed arguments: positionals by name and options by their long name. */
export interface ParsedArgs {
  positionals: Record<string, string | undefined>;
  options: Record<string, string | number | boolean | undefined>;
  help: boolean;
}

/** A usage error: the CLI prints it with a pointer to `--help` and exits with status 2. */
export class UsageError extends TypeError {
  override name = "UsageError";
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a size such as `512MB`, `64m`, `1.5GiB` or `4096` (bytes; units are powers of 1024).
 *
 * @param text The size.
 * @param name The option, for error messages.
 * @returns Bytes.
 *
 * @example
 * ```ts
 * import { parseBytes } from "./args.ts";
 * console.log(parseBytes("64MB", "--max-memory")); // 67108864
 * ```
 */
export function parseBytes(text: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2].toLowerCase() ?? "?";
  if (!match || !(unit in UNITS)) {
    throw new UsageError(
      `${name} must be a size like 512MB, 2GB or 1048576, got ${JSON.stringify(text)}`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * UNITS[unit]);
  if (!(bytes > 0)) throw new UsageError(`${name} must be a size > 0, got ${JSON.stringify(text)}`);
  return bytes;
}

/** Formats bytes as `12.3 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  const flag = `--${name}`;
  switch (spec.kind) {
    case "number": {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) {
        throw new UsageError(`${flag} must be a number, got ${JSON.stringify(raw)}`);
      }
      return v;
    }
    case "integer": {
      const v = Number(raw);
      if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v)) {
        throw new UsageError(`${flag} must be an integer, got ${JSON.stringify(raw)}`);
      }
      return v;
    }
    case "bytes":
      return parseBytes(raw, flag);
    case "boolean":
      if (["true", "1", "yes"].includes(raw)) return true;
      if (["false", "0", "no"].includes(raw)) return false;
      throw new UsageError(`${flag} must be true or false, got ${JSON.stringify(raw)}`);
    default:
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(
          `${flag} must be one of ${spec.choices.join(", ")}, got ${JSON.stringify(raw)}`,
        );
      }
      return raw;
  }
}

/**
 * Parses the arguments of one command.
 *
 * @param spec The command.
 * @param argv Its arguments (after the command name).
 * @returns Positionals, options (defaults filled in) and whether `--help` was asked.
 * @throws UsageError for an unknown option, a missing value or positional, or a bad value.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const spec = { name: "x", summary: "", positionals: ["input"], options: { k: { kind: "integer", help: "", default: 8 } } } as const;
 * console.log(parseArgs(spec, ["a.npy", "--k=4"]).options.k); // 4
 * ```
 */
export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options: ParsedArgs["options"] = {};
  const positionals: string[] = [];
  const byAlias = new Map(
    Object.entries(spec.options).filter(([, s]) => s.alias).map(([n, s]) => [s.alias!, n]),
  );
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    let name: string | undefined, inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = byAlias.get(arg.slice(1));
      if (!name) {
        throw new UsageError(
          `Unknown option ${arg} for ${spec.name}, expected one of ${describeOptions(spec)}`,
        );
      }
    } else {
      positionals.push(arg);
      continue;
    }
    let optSpec = spec.options[name];
    if (
      !optSpec && name.startsWith("no-") && spec.options[name.slice(3)]?.kind === "boolean" &&
      inline === undefined
    ) {
      options[name.slice(3)] = false;
      continue;
    }
    if (!optSpec) {
      throw new UsageError(
        `Unknown option --${name} for ${spec.name}, expected one of ${describeOptions(spec)}`,
      );
    }
    optSpec = optSpec!;
    if (optSpec.kind === "boolean" && inline === undefined) {
      options[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value, got none`);
    options[name] = convert(name, optSpec, raw);
  }
  const result: ParsedArgs = { positionals: {}, options, help };
  if (help) return result;
  const required = spec.positionals.filter((p) => !p.endsWith("?"));
  if (positionals.length < required.length) {
    throw new UsageError(
      `${spec.name} needs ${spec.positionals.join(" ")}, got ${
        positionals.length ? positionals.join(" ") : "nothing"
      }`,
    );
  }
  if (positionals.length > spec.positionals.length) {
    throw new UsageError(
      `${spec.name} takes ${spec.positionals.length} positional arguments, got extra ${
        positionals.slice(spec.positionals.length).join(" ")
      }`,
    );
  }
  spec.positionals.forEach((p, k) => (result.positionals[p.replace(/\?$/, "")] = positionals[k]));
  for (const [n, s] of Object.entries(spec.options)) {
    if (options[n] === undefined && s.default !== undefined) {
      options[n] = s.kind === "bytes" && typeof s.default === "string"
        ? parseBytes(s.default, `--${n}`)
        : s.default;
    }
  }
  return result;
}

function describeOptions(spec: CommandSpec): string {
  return Object.keys(spec.options).map((n) => `--${n}`).join(", ");
}

/**
 * The `--help` text of a command.
 *
 * @param spec The command.
 * @param program The program name.
 * @returns The text.
 */
export function formatHelp(spec: CommandSpec, program = "jumpsae"): string {
  const lines = [
    `${program} ${spec.name} — ${spec.summary}`,
    "",
    `Usage: ${program} ${spec.name} ${
      spec.positionals.map((p) => p.endsWith("?") ? `[${p.slice(0, -1)}]` : `<${p}>`).join(" ")
    } [options]`,
    "",
    "Options:",
  ];
  const rows = Object.entries(spec.options).map(([n, s]) => {
    const value = s.kind === "boolean"
      ? ""
      : ` ${s.meta ?? (s.choices ? s.choices.join("|") : s.kind.toUpperCase())}`;
    const left = `  ${s.alias ? `-${s.alias}, ` : "    "}--${n}${value}`;
    const def = s.default !== undefined ? ` (default ${s.default})` : "";
    return [left, `${s.help}${def}`];
  });
  rows.push(["      --help", "Show this help"]);
  const width = Math.min(40, Math.max(...rows.map(([l]) => l.length)) + 2);
  for (const [l, r] of rows) {
    lines.push(l.length >= width ? `${l}\n${" ".repeat(width)}${r}` : `${l.padEnd(width)}${r}`);
  }
  if (spec.epilog) lines.push("", spec.epilog);
  return lines.join("\n");
}

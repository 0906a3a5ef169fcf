/**
 * The library's error for files that are not what they claim to be.
 *
 * @module
 */

/** Where in a file a `FormatError` was found. */
export interface FormatErrorPlace {
  /** The file: its path, or a description such as `".npy file"` for bytes in memory. */
  file: string;
  /** The member of an archive (a `.npz` entry, a safetensors tensor), when one is concerned. */
  member?: string;
  /** The byte offset in the file (or in the member) where the problem is, when known. */
  offset?: number;
}

/**
 * A file (safetensors, `.npy`, `.npz`, a checkpoint) that is truncated, malformed, inconsistent
 * or asks for more than its bytes can back. The message says what was expected and what came;
 * `file`, `member` and `offset` say where. It is a `RangeError`, so code that catches the
 * built-in errors of bad input catches it too. Nothing is changed when it is thrown.
 *
 * @example Telling a damaged file from other failures
 * ```ts
 * import { FormatError, loadNpy } from "../mod.ts";
 * try {
 *   loadNpy(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0, 0, 0]));
 * } catch (error) {
 *   console.log(error instanceof FormatError, (error as FormatError).file); // true .npy file
 * }
 * ```
 */
export class FormatError extends RangeError {
  /** The file. */
  readonly file: string;
  /** The archive member or tensor concerned, if any. */
  readonly member?: string;
  /** The byte offset of the problem, if known. */
  readonly offset?: number;

  /**
   * A format error at `place`.
   *
   * @param message What was expected and what came (it should name the file).
   * @param place The file, member and offset.
   */
  constructor(message: string, place: FormatErrorPlace) {
    super(message);
    this.name = "FormatError";
    this.file = place.file;
    if (place.member !== undefined) this.member = place.member;
    if (place.offset !== undefined) this.offset = place.offset;
  }
}

/**
 * Reading the files a user names on the command line (transcripts,
 * introspection data), whoever wrote them.
 *
 * Every such file is read the same way:
 * - only regular files: a FIFO, a socket, a device (`/dev/zero` never ends,
 *   `/dev/tty` waits for a person) or a directory is refused before a byte
 *   is read. The type is checked with `stat` before opening (so a device
 *   is never even opened) and again with `fstat` on what was opened (the
 *   path may have changed in between);
 * - opened with O_NONBLOCK, so that a FIFO swapped in between cannot
 *   block the open waiting for a writer (for a regular file the flag
 *   changes nothing);
 * - at most a documented number of bytes per kind of file, counted while
 *   reading rather than trusted from `stat` (a file in /proc claims to be
 *   empty, a file may grow while it is read): one byte more is an error,
 *   and no more than the cap plus one chunk is ever held.
 *
 * Failures are `InputFileError`s: the file's name, then why, in the words
 * of the C library (`No such file or directory`) or ours
 * (`Not a regular file (a FIFO)`, `File too large (...)`).
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** Most bytes of a transcript (`verify`, `serve --replay`): 256 MiB. */
export const MAX_TRANSCRIPT_BYTES = 256 * 1024 * 1024;

/**
 * Most bytes of saved introspection data (`probe --introspection`):
 * 16 MiB, the longest line the client accepts from QEMU
 * (`query-qmp-schema` is about 200 KB).
 */
export const MAX_INTROSPECTION_BYTES = 16 * 1024 * 1024;

/** A kind of input file: what error messages call it, and its size cap. */
export interface InputFileKind {
  /** 'a transcript', 'introspection data'… as in "a transcript may be at most 256 MiB". */
  readonly what: string;
  readonly maxBytes: number;
}

export const TRANSCRIPT_FILE: InputFileKind = { what: 'a transcript', maxBytes: MAX_TRANSCRIPT_BYTES };
export const INTROSPECTION_FILE: InputFileKind = { what: 'introspection data', maxBytes: MAX_INTROSPECTION_BYTES };

/** A file that could not be read; `message` is `FILE: reason`. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
  constructor(
    /** The file as the user named it. */
    readonly file: string,
    /** An errno name (`ENOENT`), or `ENOTREG` / `EFBIG` for our own refusals. */
    readonly code: string,
    /** Why, without the file name. */
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

export function isInputFileError(e: unknown): e is InputFileError {
  return e instanceof InputFileError;
}

/** Why a system call failed, in the C library's words where we know them. */
export function strerror(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EISDIR':
      return 'Is a directory';
    case 'EACCES':
      return 'Permission denied';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'ELOOP':
      return 'Too many levels of symbolic links';
    case 'ENAMETOOLONG':
      return 'File name too long';
    case 'EMFILE':
    case 'ENFILE':
      return 'Too many open files';
    case 'EIO':
      return 'Input/output error';
    case 'EPERM':
      return 'Operation not permitted';
    case 'ENXIO':
      return 'No such device or address';
    case 'EAGAIN':
      return 'Resource temporarily unavailable';
    case 'EINVALUTF8':
      return 'Invalid UTF-8 data';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/** What kind of non-regular file `st` is, for "Not a regular file (…)". */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

function mib(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MiB` : `${bytes} bytes`;
}

function refuseUnlessRegular(file: string, st: Stats): void {
  if (st.isDirectory()) throw new InputFileError(file, 'EISDIR', 'Is a directory');
  if (!st.isFile()) throw new InputFileError(file, 'ENOTREG', `Not a regular file (${fileKind(st)})`);
}

function tooLarge(file: string, kind: InputFileKind): InputFileError {
  return new InputFileError(file, 'EFBIG', `File too large (${kind.what} may be at most ${mib(kind.maxBytes)})`);
}

const READ_CHUNK = 1024 * 1024;

/**
 * Reads `fd` to its end; more than `kind.maxBytes` bytes is an error.
 * `sizeHint` (from fstat) lets an ordinary file be read in one go.
 */
function readAtMost(fd: number, file: string, kind: InputFileKind, sizeHint: number): Buffer {
  const budget = kind.maxBytes;
  const chunks: Buffer[] = [];
  let total = 0;
  // The size plus one byte, to see the end in the same read.
  let want = Math.min(sizeHint > 0 ? sizeHint + 1 : READ_CHUNK, budget + 1);
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.max(want, 1));
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      throw new InputFileError(file, (e as NodeJS.ErrnoException).code ?? 'EIO', strerror(e));
    }
    if (n === 0) break;
    total += n;
    if (total > budget) throw tooLarge(file, kind);
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    want = Math.min(READ_CHUNK, budget + 1 - total);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

/**
 * Opens the regular file `file` without blocking (see the module comment);
 * returns the descriptor (the caller closes it) and its size. A file
 * larger than `maxBytes`, if given, is refused by its size here.
 */
function openRegular(file: string, kind?: InputFileKind): { fd: number; size: number } {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    throw new InputFileError(file, (e as NodeJS.ErrnoException).code ?? 'EIO', strerror(e));
  }
  refuseUnlessRegular(file, st);
  if (kind !== undefined && st.size > kind.maxBytes) throw tooLarge(file, kind);
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOCTTY ?? 0));
  } catch (e) {
    throw new InputFileError(file, (e as NodeJS.ErrnoException).code ?? 'EIO', strerror(e));
  }
  try {
    const opened = fstatSync(fd);
    refuseUnlessRegular(file, opened);
    if (kind !== undefined && opened.size > kind.maxBytes) throw tooLarge(file, kind);
    return { fd, size: opened.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * The bytes of the regular file `file`, at most `kind.maxBytes` of them.
 * Throws InputFileError (never blocks: see the module comment).
 */
export function readInputFile(file: string, kind: InputFileKind): Buffer {
  const { fd, size } = openRegular(file, kind);
  try {
    return readAtMost(fd, file, kind, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * The first `bytes` bytes of the regular file `file` (fewer if it is
 * shorter), by the same rules as readInputFile but without a cap: the
 * rest is never read.
 */
export function readInputPrefix(file: string, bytes: number): Buffer {
  const { fd } = openRegular(file);
  try {
    const buf = Buffer.alloc(bytes);
    let got = 0;
    while (got < bytes) {
      let n: number;
      try {
        n = readSync(fd, buf, got, bytes - got, null);
      } catch (e) {
        throw new InputFileError(file, (e as NodeJS.ErrnoException).code ?? 'EIO', strerror(e));
      }
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** `readInputFile` as text (UTF-8; bytes that are not become U+FFFD, as `readFileSync(file, 'utf8')` did). */
export function readInputText(file: string, kind: InputFileKind): string {
  return readInputFile(file, kind).toString('utf8');
}

/**
 * All of a stream (standard input, for a `-` argument), at most
 * `kind.maxBytes` bytes: a pipe or a terminal is fine here, since the user
 * chose it, but `< /dev/zero` still ends with "File too large". The stream
 * is destroyed past the cap. `name` is what errors call it ('-' or
 * 'standard input').
 */
export async function readInputStream(
  stream: NodeJS.ReadableStream & { destroy?: () => void },
  name: string,
  kind: InputFileKind,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      total += buf.length;
      if (total > kind.maxBytes) {
        stream.destroy?.();
        throw tooLarge(name, kind);
      }
      chunks.push(buf);
    }
  } catch (e) {
    if (isInputFileError(e)) throw e;
    throw new InputFileError(name, (e as NodeJS.ErrnoException).code ?? 'EIO', strerror(e));
  }
  return Buffer.concat(chunks, total);
}

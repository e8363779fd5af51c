/**
 * Loading a CommonJS file through V8's code cache, for the CLI bundle
 * (scripts/bundle-cli.mjs): zod, three quarters of the code `exec` and
 * `verify` load, is compiled once and deserialized from then on. Node 20 has
 * no `module.enableCompileCache()`, so this is done by hand, the way
 * v8-compile-cache does it: the file runs through `vm.Script` with the
 * `cachedData` of an earlier run, and a run that had none (or had it
 * rejected) writes it at exit, after the command, so that it holds every
 * function the command compiled.
 *
 * Where: next to the file, else in the user's cache directory
 * (`$XDG_CACHE_HOME/qapi-ts` or `~/.cache/qapi-ts`, used only when it is
 * ours and no one else can write to it). The file's name carries a hash of
 * its contents (the build puts it there), and so does the cache's, so a
 * rebuilt bundle never meets an old cache. A cache file is a SHA-256 of its
 * data followed by the data, and is ignored unless they agree: V8 checks a
 * cache's version, flags and source length but not its contents, and
 * crashes on corrupt ones. Nothing here ever fails a command: a cache that
 * cannot be read or written is not used.
 *
 * The loaded code must not use `import()` (V8 drops the callback of a
 * script that comes from a cache); zod does not.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Script } from 'node:vm';

/** `hit`: compiled from a cache; `miss`: there was none; `rejected`: V8 refused the one there was. */
export type CacheState = 'hit' | 'miss' | 'rejected';

export interface CachedModule {
  /** What the file put in `module.exports`. */
  exports: unknown;
  cache: CacheState;
  /** Writes the code compiled so far as the cache; the path written, or undefined when no directory took it. */
  save(): string | undefined;
}

const DIGEST = 32;

const digest = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

/** Where the cache of `file` may be: beside it, then in the user's cache directory. */
export function cacheDirs(file: string): string[] {
  const dirs = [dirname(file)];
  try {
    const xdg = process.env.XDG_CACHE_HOME;
    dirs.push(join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'qapi-ts'));
  } catch {
    // No home directory: only the one beside the file.
  }
  return dirs;
}

/** A directory other users cannot plant files in (the user's cache directory must be ours). */
function isPrivateDir(dir: string): boolean {
  if (process.getuid === undefined) return true;
  const st = statSync(dir);
  return st.isDirectory() && st.uid === process.getuid() && (st.mode & 0o022) === 0;
}

function readCache(path: string, trusted: boolean): Buffer | undefined {
  try {
    if (!trusted && !isPrivateDir(dirname(path))) return undefined;
    const file = readFileSync(path);
    const data = file.subarray(DIGEST);
    return file.length > DIGEST && digest(data).equals(file.subarray(0, DIGEST)) ? data : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(path: string, data: Buffer, trusted: boolean): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    if (!trusted) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      if (!isPrivateDir(dirname(path))) return false;
    }
    // Written aside and renamed: a reader sees the old file or the new one, never half of one.
    writeFileSync(tmp, Buffer.concat([digest(data), data]));
    renameSync(tmp, path);
    return true;
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // Nothing was written there.
    }
    return false;
  }
}

/**
 * Runs the CommonJS `file` (as Node's loader would: its own `require`,
 * `module`, `__filename`, `__dirname`), compiled from the first valid cache
 * in `dirs`. The first directory is the file's own and is trusted as the
 * file is; the others must be private to this user.
 */
export function loadCommonJs(file: string, dirs: readonly string[] = cacheDirs(file)): CachedModule {
  const source = readFileSync(file, 'utf8');
  const paths = dirs.map((dir) => join(dir, `${basename(file)}.cache`));
  let cachedData: Buffer | undefined;
  for (let i = 0; i < paths.length && cachedData === undefined; i++) cachedData = readCache(paths[i]!, i === 0);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  const module = { exports: {} as unknown };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file));
  return {
    exports: module.exports,
    cache: cachedData === undefined ? 'miss' : script.cachedDataRejected === true ? 'rejected' : 'hit',
    save: () => {
      let data: Buffer;
      try {
        data = script.createCachedData();
      } catch {
        return undefined;
      }
      return paths.find((path, i) => writeCache(path, data, i === 0));
    },
  };
}

/** `loadCommonJs(file).exports`, writing the cache at exit when it was not used. */
export function requireCached(file: string): unknown {
  const loaded = loadCommonJs(file);
  if (loaded.cache !== 'hit') process.once('exit', () => loaded.save());
  return loaded.exports;
}

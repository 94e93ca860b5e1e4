import { realpathSync } from 'node:fs';
import { posix } from 'node:path';

/**
 * Archive paths reach the agent from the kubelet's answer and from status (checkpointFiles), which more than the
 * agent can write; the agent reads, uploads and deletes them as root on the node. So each one must name a file
 * inside the checkpoint directory, or it is refused: no read, no upload, no delete.
 */
export type Confined = { ok: true; path: string } | { ok: false; why: string; missing?: true };

/** A path inside a directory with nothing else to say about it: the words callers put after the path. */
const refuse = (why: string): Confined => ({ ok: false, why });

/**
 * Whether `p` names a file strictly inside `dir`, from the strings alone (pure). Refused: anything but an absolute
 * path; a NUL byte; any `..` segment, even one that would normalize back inside (after a symlink, `a/..` is not
 * where the string says); the directory itself; anything outside it, including a sibling that shares its prefix
 * (`/ckpt-other` is not in `/ckpt`). `//` and `.` segments are normalized away. Returns the normalized path.
 */
export function confinedPath(dir: string, p: unknown): Confined {
  if (typeof p !== 'string') return refuse('is not a path');
  if (!posix.isAbsolute(dir))
    return refuse(`cannot be judged: the checkpoint directory ${dir} is not absolute`);
  if (p.includes('\0')) return refuse('contains a NUL byte');
  if (p === '') return refuse('is empty');
  if (!posix.isAbsolute(p)) return refuse('is not an absolute path');
  if (p.split('/').includes('..')) return refuse("has a '..' segment");
  const root = posix.normalize(dir).replace(/(.)\/+$/, '$1');
  const path = posix.normalize(p);
  if (path.replace(/(.)\/+$/, '$1') === root) return refuse(`is the checkpoint directory ${root} itself`);
  if (!path.startsWith(root === '/' ? '/' : `${root}/`))
    return refuse(`is outside the checkpoint directory ${root}`);
  return { ok: true, path };
}

/**
 * confinedPath on the strings, then again on the real paths (symlinks resolved, the directory's own included), so a
 * link in the directory that points out of it is refused too. Returns the real path, which the caller uses for its
 * I/O, so what is read is what was judged. A file that does not exist is `missing` (nothing to read or delete).
 */
export function confineArchive(dir: string, p: unknown): Confined {
  const given = confinedPath(dir, p);
  if (!given.ok) return given;
  let real: string;
  let realDir: string;
  try {
    realDir = realpathSync(dir);
    real = realpathSync(given.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, why: 'does not exist', missing: true };
    return refuse(`cannot be resolved (${code ?? String(err)})`);
  }
  const resolved = confinedPath(realDir, real);
  return resolved.ok ? resolved : refuse(`resolves to ${real}, which ${resolved.why}`);
}

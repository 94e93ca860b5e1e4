import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Debian's busybox-static: one static binary, so a root filesystem needs nothing else. */
export const BUSYBOX = '/bin/busybox';

/** The identity of the busybox the base is made from (the image ID of `busybox` on every node). */
export const busyboxDigest = (): string =>
  `sha256:${createHash('sha256').update(readFileSync(BUSYBOX)).digest('hex')}`;

/**
 * Writes a minimal root filesystem from busybox-static into dir (once; later calls find it): /bin with busybox
 * and a link per applet, the directories a container runtime mounts over, and an /etc with root's passwd entry.
 */
export function ensureBusyboxRootfs(dir: string): string {
  if (existsSync(join(dir, 'bin', 'busybox'))) return dir;
  const tmp = `${dir}.tmp.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root', 'var', 'run'])
    mkdirSync(join(tmp, d), { recursive: true, mode: d === 'tmp' ? 0o1777 : 0o755 });
  copyFileSync(BUSYBOX, join(tmp, 'bin', 'busybox'));
  execFileSync('chmod', ['0755', join(tmp, 'bin', 'busybox')]);
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(tmp, 'bin', a));
  writeFileSync(
    join(tmp, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  );
  writeFileSync(join(tmp, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, '..'), { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fedDir } from './paths.js';

/** The containers of a node's runc (the stand-in's runtime), with their state, PID and bundle. */
export function nodeContainers(node: string): { id: string; pid: number; status: string; bundle: string }[] {
  const root = join(fedDir, 'nodes', node, 'runtime', 'runc');
  const out = execFileSync('runc', [`--root=${root}`, 'list', '--format=json'], { encoding: 'utf8' });
  return (JSON.parse(out || 'null') ?? []) as { id: string; pid: number; status: string; bundle: string }[];
}

/** The running containers of a pod on its node (the stand-in's bundles name the pod's UID). */
export const runningContainersOfPod = (node: string, uid: string) =>
  nodeContainers(node).filter((c) => c.status === 'running' && c.bundle.includes(uid));

/**
 * Ends every container the node stand-ins started and unmounts their root filesystems. Containers run under conmon,
 * outside the stand-ins' process groups (as they outlive a kubelet), so stopping the processes `up` recorded is not
 * enough: `down` and a fresh `up` call this, and nothing of the federation keeps running.
 */
export function stopNodeContainers(): number {
  const nodes = join(fedDir, 'nodes');
  let n = 0;
  if (existsSync(nodes)) {
    for (const node of readdirSync(nodes)) {
      const root = join(nodes, node, 'runtime', 'runc');
      if (!existsSync(root)) continue;
      const list = JSON.parse(
        execFileSync('runc', [`--root=${root}`, 'list', '--format=json'], { encoding: 'utf8' }) || 'null',
      ) as { id: string }[] | null;
      for (const c of list ?? []) {
        try {
          execFileSync('runc', [`--root=${root}`, 'delete', '--force', c.id], { stdio: 'ignore' });
          n++;
        } catch {
          // already gone
        }
      }
    }
  }
  // Deepest first, so a mount inside another comes off before it.
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && m.startsWith(`${fedDir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // not mounted any more
    }
  }
  return n;
}

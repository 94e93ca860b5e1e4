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
 * An HTTP GET from inside a pod's network namespace, where its servers listen (`nsenter --net` into the namespace of
 * the pod's first running container, then curl): the stand-in nodes give pods no address the machine routes to (ADR
 * 0011 does outbound only), so a test reads a pod's health and metrics endpoints as a Prometheus in the pod network
 * would. Answers the status code and body; throws when nothing answers (no running container, connection refused).
 */
export function podHttpGet(node: string, uid: string, url: string): { status: number; body: string } {
  const c = runningContainersOfPod(node, uid)[0];
  if (!c) throw new Error(`no running container of pod ${uid} on ${node}`);
  const out = execFileSync(
    'nsenter',
    [`--net=/proc/${c.pid}/ns/net`, 'curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', url],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

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

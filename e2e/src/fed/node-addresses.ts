import { createHash } from 'node:crypto';

/**
 * Node addresses per federation (ADR 0011, step 2). Each stand-in node gets its own loopback address,
 * 127.<f>.<n>.1: <f> is one byte per federation, <n> the node's index (1, 2, ...). Several federations run on one
 * machine (one per worktree) and each names its nodes m1-a, m1-b, ...: <f> keeps their kubelets apart while every
 * kubelet listens on 10250, as on a real cluster. Pure functions here; node-net.ts adds and removes the addresses.
 */

/** <f> is never 0 (127.0.0.1 and the control plane's ports live there), 1 (kept for hand-run stand-ins) or 255. */
const FIRST = 2;
const LAST = 254;

/** A short tag of the federation's directory: the label of its addresses on lo (`lo:sm<tag>`, 15 characters). */
export function fedTag(fedDir: string): string {
  return createHash('sha256').update(fedDir).digest('hex').slice(0, 10);
}

/** The label `ip addr add ... label` gives each address a federation adds to lo, so it can find and remove its own. */
export const addressLabel = (fedDir: string): string => `lo:sm${fedTag(fedDir)}`;

/**
 * The bytes a federation tries for <f>, in order: first one derived from its directory (so it keeps its addresses
 * from one `fed up` to the next), then every other one, so a collision of two hashes only moves one federation on.
 */
export function fedByteCandidates(fedDir: string): number[] {
  const span = LAST - FIRST + 1;
  const start = parseInt(fedTag(fedDir).slice(0, 8), 16) % span;
  return Array.from({ length: span }, (_, i) => FIRST + ((start + i) % span));
}

export interface LoAddress {
  address: string;
  label: string;
}

/**
 * Parses `ip -o -4 addr show dev lo`: each line names an address (with its prefix length) and, when it has one, its
 * label as the last word (`... inet 127.9.1.1/32 scope host lo:sm0123456789\       valid_lft ...`).
 */
export function parseLoAddresses(ipOutput: string): LoAddress[] {
  const out: LoAddress[] = [];
  for (const line of ipOutput.split('\n')) {
    const m = /\binet (\d+\.\d+\.\d+\.\d+)\/\d+(?: brd \S+)? scope \S+ (\S+?)\\?(?:\s|$)/.exec(line);
    if (m?.[1] && m[2]) out.push({ address: m[1], label: m[2] });
  }
  return out;
}

/**
 * The byte this federation takes: the first candidate no other federation holds an address in. Addresses carrying
 * this federation's own label (left by a crashed run of the same directory) do not count as taken; 127.0.0.0/16
 * never is a candidate. Undefined when all are taken.
 */
export function pickFedByte(fedDir: string, onLo: LoAddress[]): number | undefined {
  const own = addressLabel(fedDir);
  const taken = new Set<number>();
  for (const a of onLo) {
    const parts = a.address.split('.');
    if (parts[0] === '127' && a.label !== own) taken.add(Number(parts[1]));
  }
  return fedByteCandidates(fedDir).find((f) => !taken.has(f));
}

/** The address of the node with index n (1-based) in the federation with byte f. */
export function nodeAddress(f: number, n: number): string {
  if (!Number.isInteger(f) || f < FIRST || f > LAST)
    throw new RangeError(`federation byte ${f} is not in ${FIRST}..${LAST}`);
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new RangeError(`node index ${n} is not in 1..255`);
  return `127.${f}.${n}.1`;
}

/** The addresses this federation's label marks on lo: what `fed down` removes, even when state.json is gone. */
export function ownAddresses(fedDir: string, onLo: LoAddress[]): string[] {
  const own = addressLabel(fedDir);
  return onLo.filter((a) => a.label === own).map((a) => a.address);
}

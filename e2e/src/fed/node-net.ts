import { execFileSync, spawnSync } from 'node:child_process';
import {
  addressLabel,
  nodeAddress,
  ownAddresses,
  parseLoAddresses,
  pickFedByte,
  type LoAddress,
} from './node-addresses.js';
import { fedDir } from './paths.js';

/**
 * The I/O of ADR 0011 step 2: the nodes' addresses on the host's lo. Linux routes all of 127.0.0.0/8 to lo, so a
 * kubelet could bind 127.<f>.<n>.1 without them; they are added anyway, labelled with the federation's tag, because
 * an address on lo is the claim the other federations on this machine see (pickFedByte skips their bytes), and the
 * label is how `fed down` finds what it added even after a crash lost state.json.
 */

function loAddresses(): LoAddress[] {
  return parseLoAddresses(
    execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' }),
  );
}

/**
 * Gives each node (in order, index 1, 2, ...) an address 127.<f>.<n>.1 on lo and returns them by node. Another
 * federation adding the same byte between our look and our add makes `ip addr add` fail ("Address already
 * assigned"): the next free byte is tried then.
 */
export function claimNodeAddresses(nodes: string[]): Record<string, string> {
  const label = addressLabel(fedDir);
  for (let attempt = 0; attempt < 8; attempt++) {
    releaseNodeAddresses();
    const f = pickFedByte(fedDir, loAddresses());
    if (f === undefined) throw new Error('every 127.<f>.0.0/16 has addresses of another federation on lo');
    const out: Record<string, string> = {};
    let ok = true;
    nodes.forEach((node, i) => {
      if (!ok) return;
      const address = nodeAddress(f, i + 1);
      const r = spawnSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo', 'label', label], {
        encoding: 'utf8',
      });
      if (r.status === 0) out[node] = address;
      // iproute2 says "File exists" or "Address already assigned", by version.
      else if (/exists|already assigned/i.test(r.stderr)) ok = false;
      else throw new Error(`ip addr add ${address}/32 dev lo: ${r.stderr.trim()}`);
    });
    if (ok) return out;
  }
  throw new Error('could not claim node addresses on lo: another federation kept taking the same bytes');
}

/** Removes every address this federation's label marks on lo; returns how many. Safe to call when there are none. */
export function releaseNodeAddresses(): number {
  const own = ownAddresses(fedDir, loAddresses());
  for (const a of own) spawnSync('ip', ['addr', 'del', `${a}/32`, 'dev', 'lo']);
  return own.length;
}

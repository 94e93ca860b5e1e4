import { parseSize, type RetentionPolicy } from '@stateful-migration/api';

/**
 * Retention, the pure decision (issue 6): given what a store holds, the policies, the pins and the live pods, which
 * checkpoints to delete and why, and which limits pins make unreachable. The controller reads the world into this
 * shape (archives identified by their spec.dump, images by their annotations, never by name) and deletes.
 */

/** Where checkpoints live; every limit applies to each store on its own. */
export type Store = 'archives' | 'images' | 'registry';

export interface Identity {
  namespace: string;
  pod: string;
  container: string;
}

export interface RetentionItem extends Identity {
  /** Unique in its store: a file path, an image id, repository@digest. */
  id: string;
  /** Bytes. */
  size: number;
  /** When it was taken (ms since epoch); the oldest go first. */
  time: number;
  /** Full image references, host/repo:tag and host/repo@sha256:... (none for archives). */
  refs?: string[];
  /** Its tags: a run id pins the images tagged with it. */
  tags?: string[];
  digest?: string;
  /** When the checkpoint was taken according to the runtime: links an archive to the images built from it. */
  checkpointedTime?: string;
  /** Pinned by a checkpoint-restore-operator `.keep` file next to an archive. */
  keep?: boolean;
  /** Part of a run in progress: never deleted, never reported. */
  inUse?: boolean;
}

/** A policy and what it applies to; unset scope fields match everything, so no scope at all is the global policy. */
export interface ScopedPolicy {
  namespace?: string;
  pod?: string;
  container?: string;
  policy: RetentionPolicy;
  /** Where it came from, for messages: "agent flags", "CheckpointBackup shop/nightly". */
  source: string;
}

/** One pin from a CheckpointBackup's annotations: an image reference (tag or digest) or a run id of that object. */
export interface Pin {
  value: string;
  source: 'user' | 'restore';
  /** The object's pod, which a run id refers to. */
  namespace: string;
  pod: string;
}

export interface RetentionInput {
  store: Store;
  items: RetentionItem[];
  policies: ScopedPolicy[];
  pins: Pin[];
  /** checkpointKey()s of images pinned in any store: their archives are pinned too. */
  pinnedCheckpoints?: ReadonlySet<string>;
  /** "namespace/pod" of every pod that exists; undefined when unknown, and then no orphan is deleted. */
  livePods?: ReadonlySet<string>;
}

export interface Deletion {
  item: RetentionItem;
  reason: string;
}

/** A limit that stays exceeded because what is left is pinned. */
export interface Finding {
  namespace: string;
  pod?: string;
  container?: string;
  limit: keyof RetentionPolicy;
  value: number;
  /** What the pinned checkpoints are: image references or archive paths. */
  pinned: string[];
  message: string;
}

export interface RetentionDecision {
  delete: Deletion[];
  findings: Finding[];
  /** Items that matched a pin (for linking archives to pinned images across stores). */
  pinned: RetentionItem[];
}

/** Built-in defaults, as in checkpoint-restore-operator: 10 per container, everything else unlimited, orphans kept. */
export const DEFAULT_RETENTION: Required<RetentionPolicy> = {
  maxCheckpointsPerContainer: 10,
  maxCheckpointsPerPod: 0,
  maxCheckpointsPerNamespace: 0,
  maxCheckpointSize: 0,
  maxTotalSizePerContainer: 0,
  maxTotalSizePerPod: 0,
  maxTotalSizePerNamespace: 0,
  retainOrphans: true,
};

type Level = 'container' | 'pod' | 'namespace';
const rank = (p: ScopedPolicy): number => (p.container ? 3 : p.pod ? 2 : p.namespace ? 1 : 0);

const matches = (p: ScopedPolicy, id: Partial<Identity>): boolean =>
  (!p.namespace || p.namespace === id.namespace) &&
  (!p.pod || p.pod === id.pod) &&
  (!p.container || p.container === id.container);

/** A limit as a number: counts as they are, sizes in bytes; undefined when unset or unparsable. */
function limitOf(p: RetentionPolicy, field: keyof RetentionPolicy): number | boolean | undefined {
  const v = p[field];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (field.startsWith('maxCheckpoints')) return typeof v === 'number' && v >= 0 ? Math.floor(v) : undefined;
  return parseSize(v);
}

/** Of two equally specific settings, the one that deletes less: 0 (unlimited) or the larger limit; keeping orphans. */
function morePermissive(a: number | boolean, b: number | boolean): number | boolean {
  if (typeof a === 'boolean' || typeof b === 'boolean') return a === true || b === true;
  if (a === 0 || b === 0) return 0;
  return Math.max(a, b);
}

/**
 * The value of one field for a scope: the most specific policy that sets it wins (container > pod > namespace >
 * global), field by field; equally specific ones yield the more permissive value; the built-in default last.
 * Pod-wide fields consider no container policies, namespace-wide ones no pod or container policies.
 */
export function resolveLimit(
  policies: ScopedPolicy[],
  field: keyof RetentionPolicy,
  id: Partial<Identity>,
  level: Level = 'container',
): number | boolean {
  let best: { rank: number; value: number | boolean } | undefined;
  for (const p of policies) {
    if (level !== 'container' && p.container) continue;
    if (level === 'namespace' && p.pod) continue;
    if (!matches(p, id)) continue;
    const value = limitOf(p.policy, field);
    if (value === undefined) continue;
    const r = rank(p);
    if (!best || r > best.rank) best = { rank: r, value };
    else if (r === best.rank) best = { rank: r, value: morePermissive(best.value, value) };
  }
  return best ? best.value : (limitOf(DEFAULT_RETENTION, field) as number | boolean);
}

/** Links an image to its archive: identity and the runtime's checkpoint time. */
export const checkpointKey = (i: Identity & { checkpointedTime?: string }): string | undefined =>
  i.checkpointedTime ? `${i.namespace}/${i.pod}/${i.container}/${i.checkpointedTime}` : undefined;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Whether a pin names this item: a digest, a full reference by tag or digest, or a run id of the pin's own pod. */
export function pinMatches(pin: Pin, item: RetentionItem): boolean {
  const v = pin.value;
  if (DIGEST.test(v)) return item.digest === v;
  if (v.includes('/') || v.includes(':') || v.includes('@')) return !!item.refs?.includes(v);
  return item.namespace === pin.namespace && item.pod === pin.pod && !!item.tags?.includes(v);
}

const identified = (i: RetentionItem): boolean => !!(i.namespace && i.pod && i.container);

/** How an item is named to users: a reference by tag if it has one, else by digest, else its path or id. */
export const describeItem = (i: RetentionItem): string =>
  i.refs?.find((r) => !r.includes('@')) ?? i.refs?.[0] ?? i.id;

export const formatSize = (n: number): string =>
  n >= 2 ** 30
    ? `${+(n / 2 ** 30).toFixed(2)}Gi`
    : n >= 2 ** 20
      ? `${+(n / 2 ** 20).toFixed(2)}Mi`
      : n >= 2 ** 10
        ? `${+(n / 2 ** 10).toFixed(2)}Ki`
        : `${n}`;

const storeWords: Record<Store, string> = {
  archives: 'checkpoint archives on the node',
  images: "checkpoint images in the node's containers-storage",
  registry: 'checkpoint images in the registry',
};

const levels: {
  level: Level;
  key: (i: Identity) => string;
  count: keyof RetentionPolicy;
  size: keyof RetentionPolicy;
}[] = [
  {
    level: 'container',
    key: (i) => `${i.namespace}/${i.pod}/${i.container}`,
    count: 'maxCheckpointsPerContainer',
    size: 'maxTotalSizePerContainer',
  },
  {
    level: 'pod',
    key: (i) => `${i.namespace}/${i.pod}`,
    count: 'maxCheckpointsPerPod',
    size: 'maxTotalSizePerPod',
  },
  {
    level: 'namespace',
    key: (i) => i.namespace,
    count: 'maxCheckpointsPerNamespace',
    size: 'maxTotalSizePerNamespace',
  },
];

/** The working state of one decision: what is protected, what goes, what cannot be met. */
interface Ledger {
  store: Store;
  protectedBy: Map<string, 'pin' | 'inUse'>;
  deletions: Map<string, Deletion>;
  findings: Finding[];
}

function remove(l: Ledger, it: RetentionItem, reason: string): boolean {
  if (l.protectedBy.has(it.id) || l.deletions.has(it.id)) return false;
  l.deletions.set(it.id, { item: it, reason });
  return true;
}

function protect(input: RetentionInput, items: RetentionItem[]): Map<string, 'pin' | 'inUse'> {
  const out = new Map<string, 'pin' | 'inUse'>();
  for (const it of items) {
    const key = checkpointKey(it);
    const pinned =
      it.keep ||
      input.pins.some((p) => pinMatches(p, it)) ||
      (key !== undefined && !!input.pinnedCheckpoints?.has(key));
    if (pinned) out.set(it.id, 'pin');
    else if (it.inUse) out.set(it.id, 'inUse');
  }
  return out;
}

const show = (field: keyof RetentionPolicy, n: number): string =>
  field.startsWith('maxCheckpoints') ? `${n}` : formatSize(n);

/**
 * One limit over one group. The newest unpinned checkpoints fill the limit and pinned ones are kept on top of it,
 * so a pin never costs the latest checkpoint its place; the first one that does not fit goes, and every older one
 * with it. A limit still exceeded with pins among the rest is a finding.
 */
function enforce(
  l: Ledger,
  group: RetentionItem[],
  scope: { name: string; id: Partial<Identity> & { namespace: string } },
  field: keyof RetentionPolicy,
  limit: number,
  measure: (i: RetentionItem) => number,
): void {
  // Newest first; the id breaks ties so the decision does not depend on listing order.
  const live = group
    .filter((i) => !l.deletions.has(i.id))
    .sort((a, b) => b.time - a.time || a.id.localeCompare(b.id));
  const unpinned = live.filter((i) => l.protectedBy.get(i.id) !== 'pin');
  let kept = 0;
  let full = false;
  for (const it of unpinned) {
    full ||= kept + measure(it) > limit;
    const removed = full && remove(l, it, `${field} ${show(field, limit)} for ${scope.name}`);
    if (!removed) kept += measure(it);
  }
  const pins = live.filter((i) => l.protectedBy.get(i.id) === 'pin');
  const total = kept + pins.reduce((s, i) => s + measure(i), 0);
  if (total <= limit || !pins.length) return;
  const names = pins.map(describeItem);
  l.findings.push({
    ...scope.id,
    limit: field,
    value: limit,
    pinned: names,
    message:
      `${field} ${show(field, limit)} for ${scope.name} cannot be met in the ${storeWords[l.store]} ` +
      `(${show(field, total)} kept): pinned ${names.join(', ')}; unpin or raise the limit`,
  });
}

/** Per container, pod and namespace: the count and total size limits, oldest first. */
function enforceGroups(l: Ledger, items: RetentionItem[], policies: ScopedPolicy[]): void {
  for (const { level, key, count, size } of levels) {
    const groups = new Map<string, RetentionItem[]>();
    for (const it of items) groups.set(key(it), [...(groups.get(key(it)) ?? []), it]);
    for (const [name, group] of groups) {
      const first = group[0]!;
      const id = {
        namespace: first.namespace,
        ...(level !== 'namespace' ? { pod: first.pod } : {}),
        ...(level === 'container' ? { container: first.container } : {}),
      };
      const countLimit = resolveLimit(policies, count, id, level) as number;
      if (countLimit) enforce(l, group, { name, id }, count, countLimit, () => 1);
      const sizeLimit = resolveLimit(policies, size, id, level) as number;
      if (sizeLimit) enforce(l, group, { name, id }, size, sizeLimit, (i) => i.size);
    }
  }
}

/**
 * Decides what retention deletes in one store. Order: orphans (when retainOrphans is false; never in the registry),
 * checkpoints over maxCheckpointSize, then per container, pod and namespace the oldest until count and total size
 * are within their limits. Pinned and in-use checkpoints are never deleted; pinned ones are kept on top of each
 * limit (unlike checkpoint-restore-operator, where a pin can push out the newest checkpoint), and a limit exceeded
 * because of them is a finding. Unidentified items (no namespace, pod or container) are never touched.
 */
export function decideRetention(input: RetentionInput): RetentionDecision {
  const items = input.items.filter(identified);
  const l: Ledger = {
    store: input.store,
    protectedBy: protect(input, items),
    deletions: new Map(),
    findings: [],
  };
  const { policies, livePods } = input;
  if (input.store !== 'registry' && livePods) {
    for (const it of items) {
      const orphan = !livePods.has(`${it.namespace}/${it.pod}`);
      if (orphan && resolveLimit(policies, 'retainOrphans', it) === false)
        remove(l, it, `pod ${it.namespace}/${it.pod} no longer exists and retainOrphans is false`);
    }
  }
  for (const it of items) {
    const max = resolveLimit(policies, 'maxCheckpointSize', it) as number;
    if (max > 0 && it.size > max)
      remove(l, it, `${formatSize(it.size)} is larger than maxCheckpointSize ${formatSize(max)}`);
  }
  enforceGroups(l, items, policies);
  return {
    delete: [...l.deletions.values()],
    findings: l.findings,
    pinned: items.filter((i) => l.protectedBy.get(i.id) === 'pin'),
  };
}

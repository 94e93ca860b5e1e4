import {
  isWorkloadBackup,
  keepStateSettings,
  podName,
  type CheckpointBackup,
  type ClusterStatus,
  type FailoverRecord,
} from '@stateful-migration/api';

export interface StatusRow {
  name: string;
  workload: string;
  cluster: string;
  node: string;
  pod: string;
  container: string;
  phase: string;
  image: string;
  pushed: string;
  lastCheckpoint: string;
}

type Image = NonNullable<ClusterStatus['builtImages']>[number];

/** The newest image of each container, by container name. */
function newestByContainer(images: Image[] | undefined): [string, Image][] {
  const newest = new Map<string, Image>();
  for (const i of images ?? []) newest.set(i.containerName, i);
  return [...newest].sort(([a], [z]) => a.localeCompare(z));
}

/** One row per container of one pod (its newest image), or one row while it has none. */
function podRows(
  base: Omit<StatusRow, 'container' | 'image' | 'pushed'>,
  images: Image[] | undefined,
): StatusRow[] {
  const newest = newestByContainer(images);
  if (!newest.length) return [{ ...base, container: '-', image: '-', pushed: '-' }];
  return newest.map(([container, i]) => ({ ...base, container, image: i.imageName, pushed: pushedCell(i) }));
}

/** A workload-level object's cluster: one pod per replica (StatefulSet ordinals in order), gone ones marked. */
function replicaRows(base: Pick<StatusRow, 'name' | 'workload' | 'cluster'>, c: ClusterStatus): StatusRow[] {
  if (!c.replicas?.length)
    return podRows({ ...base, node: '-', pod: '-', phase: c.phase, lastCheckpoint: '-' }, undefined);
  return c.replicas.flatMap((r) =>
    podRows(
      {
        ...base,
        node: r.node ?? '-',
        pod: r.pod,
        phase: r.present ? r.phase : `${r.phase} (pod gone)`,
        lastCheckpoint: r.lastCheckpointTime ?? '-',
      },
      r.images,
    ),
  );
}

/**
 * One row per cluster and container: the newest image of each container, or one row while there is none. A
 * workload-level object (no podRef) has a row per replica (pod) and container in each cluster.
 */
export function statusRows(backups: CheckpointBackup[]): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const b of [...backups].sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))) {
    const clusters = b.status?.clusters ?? [];
    const whole = isWorkloadBackup(b);
    const workload = `${b.spec.resourceRef.kind}/${b.spec.resourceRef.name}`;
    const pod = whole ? '*' : podName(b);
    if (!clusters.length)
      rows.push({
        name: b.metadata.name,
        workload,
        cluster: '-',
        node: '-',
        pod,
        container: '-',
        phase: b.status?.phase ?? 'Pending',
        image: '-',
        pushed: '-',
        lastCheckpoint: '-',
      });
    for (const c of clusters) {
      const base = { name: b.metadata.name, workload, cluster: c.name };
      if (whole) {
        rows.push(...replicaRows(base, c));
        continue;
      }
      rows.push(
        ...podRows(
          {
            ...base,
            node: c.node ?? '-',
            pod: c.pod ?? pod,
            phase: c.phase,
            lastCheckpoint: c.lastCheckpointTime ?? '-',
          },
          c.builtImages,
        ),
      );
    }
  }
  return rows;
}

/** yes, no, or encrypted (pushed, readable only with a recipient's private key). */
function pushedCell(i: { pushed: boolean; encryptedFor?: string[] }): string {
  if (!i.pushed) return 'no';
  return i.encryptedFor?.length ? 'encrypted' : 'yes';
}

const HEADERS: [keyof StatusRow, string][] = [
  ['name', 'NAME'],
  ['workload', 'WORKLOAD'],
  ['cluster', 'CLUSTER'],
  ['node', 'NODE'],
  ['pod', 'POD'],
  ['container', 'CONTAINER'],
  ['phase', 'PHASE'],
  ['image', 'IMAGE'],
  ['pushed', 'PUSHED'],
  ['lastCheckpoint', 'LAST CHECKPOINT'],
];

/** A kubectl-style table. */
export function renderTable(rows: StatusRow[]): string {
  if (!rows.length) return 'No CheckpointBackups found.\n';
  return columns(HEADERS, rows);
}

function columns<R>(headers: [keyof R, string][], rows: R[]): string {
  const cells = [headers.map(([, h]) => h), ...rows.map((r) => headers.map(([k]) => String(r[k])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return (
    cells
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]!))
          .join('   ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

// --- Per workload (issue 16): where it runs, how old its last checkpoint is, what its last failover did ---

/** One workload-level backup as people ask about it; times stay absolute so a watch reprints only on a change. */
export interface WorkloadRow {
  name: string;
  workload: string;
  /** Where Karmada runs it (the hub's placement), each cluster with its present pods. */
  runsIn: string;
  lastCheckpointTime?: string;
  keepState: string;
  lastFailover?: FailoverRecord;
}

export function workloadRows(backups: CheckpointBackup[]): WorkloadRow[] {
  return [...backups]
    .filter((b) => isWorkloadBackup(b))
    .sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))
    .map((b) => {
      const clusters = new Map((b.status?.clusters ?? []).map((c) => [c.name, c]));
      const where = b.status?.placement?.clusters ?? [...clusters.keys()];
      const runsIn = where.map((n) => {
        const c = clusters.get(n);
        const pods = (c?.replicas ?? []).filter((r) => r.present).length;
        return `${n} (${pods} pod${pods === 1 ? '' : 's'}${c?.phase === 'Unknown' ? ', unreachable' : ''})`;
      });
      const k = keepStateSettings(b);
      const keep = [
        ...(k.clusterFailover ? [`failover<=${k.clusterFailover.maxAgeSeconds}s`] : []),
        ...(k.eviction ? [`drain<=${k.eviction.timeoutSeconds}s`] : []),
      ];
      return {
        name: b.metadata.name,
        workload: `${b.spec.resourceRef.kind}/${b.spec.resourceRef.name}`,
        runsIn: runsIn.join(', ') || '-',
        ...(b.status?.lastCheckpointTime ? { lastCheckpointTime: b.status.lastCheckpointTime } : {}),
        keepState: keep.join(', ') || '-',
        ...(b.status?.lastFailover ? { lastFailover: b.status.lastFailover } : {}),
      };
    });
}

/** kubectl's short ages: 42s, 5m, 3h, 2d. */
export function age(from: string, now: Date): string {
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (Number.isNaN(s)) return '?';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function failoverCell(f: FailoverRecord | undefined, now: Date): string {
  if (!f) return '-';
  if (f.reason)
    return `${age(f.time, now)} ago ${(f.notLostClusters ?? []).join('+')} evicted, not a failover (${f.reason})`;
  const total = f.replicas.length;
  const state = f.stateAgeSeconds !== undefined ? ` (state ${f.stateAgeSeconds}s old)` : '';
  const fresh = f.startedFresh ? `, ${f.startedFresh} fresh` : '';
  return `${age(f.time, now)} ago ${f.fromClusters.join('+')} -> ${f.toClusters.join('+') || '-'}: ${f.restored}/${total} restored${state}${fresh}`;
}

const WORKLOAD_HEADERS: [keyof WorkloadCells, string][] = [
  ['name', 'NAME'],
  ['workload', 'WORKLOAD'],
  ['runsIn', 'RUNS IN'],
  ['lastCheckpoint', 'LAST CHECKPOINT'],
  ['keepState', 'KEEP STATE'],
  ['lastFailover', 'LAST FAILOVER'],
];
type WorkloadCells = Record<
  'name' | 'workload' | 'runsIn' | 'lastCheckpoint' | 'keepState' | 'lastFailover',
  string
>;

/** The per-workload table, ages measured at `now`; empty when no backup covers a whole workload. */
export function renderWorkloads(rows: WorkloadRow[], now: Date): string {
  if (!rows.length) return '';
  return columns(
    WORKLOAD_HEADERS,
    rows.map((r) => ({
      name: r.name,
      workload: r.workload,
      runsIn: r.runsIn,
      lastCheckpoint: r.lastCheckpointTime ? `${age(r.lastCheckpointTime, now)} ago` : '-',
      keepState: r.keepState,
      lastFailover: failoverCell(r.lastFailover, now),
    })),
  );
}

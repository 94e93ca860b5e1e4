import {
  isWorkloadBackup,
  podName,
  type CheckpointBackup,
  type ClusterStatus,
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
  const cells = [HEADERS.map(([, h]) => h), ...rows.map((r) => HEADERS.map(([k]) => r[k]))];
  const widths = HEADERS.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
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

import { podName, type CheckpointBackup } from '@stateful-migration/api';

export interface StatusRow {
  name: string;
  cluster: string;
  node: string;
  pod: string;
  container: string;
  phase: string;
  image: string;
  pushed: string;
  lastCheckpoint: string;
}

/** One row per cluster and container: the newest image of each container, or one row while there is none. */
export function statusRows(backups: CheckpointBackup[]): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const b of [...backups].sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))) {
    const clusters = b.status?.clusters ?? [];
    if (!clusters.length)
      rows.push({
        name: b.metadata.name,
        cluster: '-',
        node: '-',
        pod: podName(b),
        container: '-',
        phase: b.status?.phase ?? 'Pending',
        image: '-',
        pushed: '-',
        lastCheckpoint: '-',
      });
    for (const c of clusters) {
      const newest = new Map<string, NonNullable<typeof c.builtImages>[number]>();
      for (const i of c.builtImages ?? []) newest.set(i.containerName, i);
      const base = {
        name: b.metadata.name,
        cluster: c.name,
        node: c.node ?? '-',
        pod: c.pod ?? podName(b),
        phase: c.phase,
        lastCheckpoint: c.lastCheckpointTime ?? '-',
      };
      if (!newest.size) rows.push({ ...base, container: '-', image: '-', pushed: '-' });
      for (const [container, i] of [...newest].sort(([a], [z]) => a.localeCompare(z)))
        rows.push({ ...base, container, image: i.imageName, pushed: pushedCell(i) });
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

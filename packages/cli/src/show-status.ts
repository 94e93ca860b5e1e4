import { stringify } from 'yaml';
import { API_GROUP, PLURAL, type CheckpointBackup } from '@stateful-migration/api';
import { Informer, RestClient, restListWatch } from '@stateful-migration/kube';
import { kubectlConfig, type ConnectionFlags } from './kubeconfig.js';
import { renderTable, renderWorkloads, statusRows, workloadRows } from './status.js';

export interface StatusFlags extends ConnectionFlags {
  allNamespaces: boolean;
  output: 'table' | 'json' | 'yaml';
  watch: boolean;
}

function print(backups: CheckpointBackup[], o: StatusFlags, one: boolean): void {
  if (o.output === 'table') {
    const workloads = renderWorkloads(workloadRows(backups), new Date());
    return void process.stdout.write(renderTable(statusRows(backups)) + (workloads ? `\n${workloads}` : ''));
  }
  const doc = one ? backups[0] : { apiVersion: 'v1', kind: 'List', items: backups };
  process.stdout.write(
    o.output === 'json' ? JSON.stringify(doc, null, 2) + '\n' : stringify(doc) + (o.watch ? '---\n' : ''),
  );
}

/** The status view: reads the hub objects once, or keeps printing on every change with --watch. */
export async function showStatus(name: string | undefined, o: StatusFlags): Promise<void> {
  const { kc, namespace: ns } = kubectlConfig(o);
  const client = new RestClient(kc);
  const path = o.allNamespaces
    ? `/apis/${API_GROUP}/v1/${PLURAL}`
    : `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}`;
  if (!o.watch) {
    const backups = name
      ? [await client.get<CheckpointBackup>(`${path}/${name}`)]
      : (await client.get<{ items: CheckpointBackup[] }>(path)).items;
    return print(backups, o, !!name);
  }
  const informer = new Informer<CheckpointBackup>(
    restListWatch(client, path, name ? { fieldSelector: `metadata.name=${name}` } : {}),
    { onError: (err) => process.stderr.write(`watch interrupted (${String(err)}); retrying\n`) },
  );
  let last = '';
  informer.on(() => {
    const now = informer.list();
    // Print only what changed on screen: the table for people, the status for -o json|yaml.
    const key =
      o.output === 'table'
        ? renderTable(statusRows(now)) + JSON.stringify(workloadRows(now))
        : JSON.stringify(now.map((b) => b.status ?? {}));
    if (key === last) return;
    last = key;
    if (o.output === 'table') process.stdout.write(`\n${new Date().toISOString()}\n`);
    print(now, o, !!name);
  });
  await informer.start();
  if (!informer.list().length)
    process.stdout.write(name ? `waiting for ${ns}/${name}\n` : 'No CheckpointBackups found.\n');
  await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  informer.stop();
}

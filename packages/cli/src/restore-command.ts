import { API_GROUP, RESTORE_PLURAL, type CheckpointRestore } from '@stateful-migration/api';
import { Informer, RestClient, restListWatch } from '@stateful-migration/kube';
import { kubectlConfig, type ConnectionFlags } from './kubeconfig.js';
import { outcome, progressLine, restoreObject, type RestoreFlags } from './restore.js';

const say = (s: string) => void process.stdout.write(`${s}\n`);

/**
 * Creates the CheckpointRestore (the apiserver validates it as for `kubectl apply`: CRD schema, admission) and, with
 * --wait, follows it by a watch until it ends. Returns the exit code: 0 once Restored (Restore) or SourceStopped
 * (Migrate), 1 when it failed or --timeout passed first.
 */
export async function runRestore(
  backup: string,
  f: RestoreFlags & ConnectionFlags,
  timeoutMs: number,
): Promise<number> {
  const { kc, namespace } = kubectlConfig(f);
  const client = new RestClient(kc);
  const collection = `/apis/${API_GROUP}/v1/namespaces/${namespace}/${RESTORE_PLURAL}`;
  const made = await client.request<CheckpointRestore>('POST', collection, {
    body: restoreObject(backup, namespace, f),
  });
  const name = made.metadata.name;
  say(
    `checkpointrestore.${API_GROUP}/${name} created: ${made.spec.mode} of CheckpointBackup ${backup} into ${f.to}` +
      (f.node ? ` (node ${f.node})` : ''),
  );
  if (!f.wait) {
    say(`follow it with: kubectl get checkpointrestore ${name} -n ${namespace} -w`);
    return 0;
  }
  return follow(client, collection, name, timeoutMs);
}

/** Prints each change of phase or message, with the time, until the restore ends, --timeout passes, or Ctrl-C. */
async function follow(
  client: RestClient,
  collection: string,
  name: string,
  timeoutMs: number,
): Promise<number> {
  const informer = new Informer<CheckpointRestore>(
    restListWatch(client, collection, { fieldSelector: `metadata.name=${name}` }),
    { onError: (err) => process.stderr.write(`watch interrupted (${String(err)}); retrying\n`) },
  );
  let last: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let interrupted: (() => void) | undefined;
  const code = await new Promise<number>((resolve) => {
    if (timeoutMs > 0)
      timer = setTimeout(() => {
        process.stderr.write(
          `timed out after ${timeoutMs / 1000} s waiting for ${name} (${last ?? 'no status yet'}); it goes on: ` +
            `kubectl get checkpointrestore ${name} -w\n`,
        );
        resolve(1);
      }, timeoutMs);
    interrupted = () => {
      process.stderr.write(`stopped waiting; ${name} goes on\n`);
      resolve(130);
    };
    process.once('SIGINT', interrupted);
    informer.on((type, r) => {
      if (type === 'delete') {
        process.stderr.write(`CheckpointRestore ${name} was deleted\n`);
        return resolve(1);
      }
      const line = progressLine(last, r);
      if (line) say(`${new Date().toISOString()}  ${(last = line)}`);
      const end = outcome(r);
      if (!end.done) return;
      if (end.exitCode === 0) say(end.summary);
      else process.stderr.write(`${end.summary}\n`);
      resolve(end.exitCode);
    });
    informer.start().catch((err: unknown) => {
      process.stderr.write(`cannot watch ${name}: ${String(err)}\n`);
      resolve(1);
    });
  });
  clearTimeout(timer);
  if (interrupted) process.off('SIGINT', interrupted);
  informer.stop();
  return code;
}

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, kubectl } from './fed/kubectl.js';
import { binary, fedDir, repoRoot } from './fed/paths.js';
import type { RegistryInfo } from './fed/registry.js';
import { up } from './fed/up.js';

// The main job: bring everything up, apply examples/ through the hub with kubectl, show the aggregated status as it
// changes, and keep running until Ctrl-C, which tears the federation down.
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const example = (f: string): string => readFileSync(join(repoRoot, 'examples', f), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function firstRunning(cluster: string, selector: string): Promise<string> {
  for (const until = Date.now() + 90_000; Date.now() < until; await sleep(500)) {
    const out = await kubectl(cluster, [
      'get',
      'pods',
      '-l',
      selector,
      '-o',
      'jsonpath={range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\\n"}{end}',
    ]).catch(() => '');
    const pod = out.trim().split('\n')[0];
    if (pod) return pod;
  }
  throw new Error(`no running pod for ${selector} in ${cluster}`);
}

/** Once web's checkpoint is pushed, restore it into member2 beside the source (examples/restore). */
async function restoreStep(): Promise<void> {
  const phase = (kind: string, name: string) =>
    kubectl('karmada', ['get', kind, name, '-o', 'jsonpath={.status.phase}']).catch(() => '');
  for (const until = Date.now() + 180_000; (await phase('cpb', 'web')) !== 'Completed'; await sleep(1000))
    if (Date.now() > until) return say('demo: web was not checkpointed in 3 minutes; skipping the restore');
  say('\ndemo: kubectl --kubeconfig=.fed/karmada-config apply -f examples/restore/restore-into-member2.yaml');
  await apply('karmada', example('restore/restore-into-member2.yaml'));
  let last = '';
  for (const until = Date.now() + 120_000; Date.now() < until; await sleep(500)) {
    const p = await phase('cpr', 'web-copy');
    if (p && p !== last) say(`demo: restore web-copy: ${p}`);
    last = p;
    if (p === 'Restored' || p === 'Failed') break;
  }
  say(await kubectl('karmada', ['get', 'cpr', 'web-copy']));
  say(`demo: member2 now runs the restored pod:\n${await kubectl('member2', ['get', 'pods', '-o', 'wide'])}`);
  // web runs the counter image: its count lives only in the process's memory, so the copy can only go on from
  // where the source was if CRIU brought that memory back.
  const copy = await kubectl('karmada', [
    'get',
    'cpr',
    'web-copy',
    '-o',
    'jsonpath={.status.restoredPod.name}',
  ]);
  const source = await firstRunning('member1', 'app=web').catch(() => '');
  if (!copy || !source) return;
  await sleep(2000);
  const lines = async (cluster: string, pod: string, args: string[]) =>
    (await kubectl(cluster, ['logs', pod, ...args]).catch((e: Error) => e.message)).trimEnd();
  say(
    `demo: kubectl --kubeconfig=.fed/member1-config logs ${source} --tail=3   (the source, still counting)`,
  );
  say(await lines('member1', source, ['--tail=3']));
  say(
    `demo: kubectl --kubeconfig=.fed/member2-config logs ${copy} | head -3   (the copy: no "count 1", it went on)`,
  );
  say((await lines('member2', copy, [])).split('\n').slice(0, 3).join('\n'));
}

/**
 * A whole StatefulSet moved to member2 (examples/restore/migrate-workload.yaml): its two counters, started apart,
 * each go on in member2 from its own count.
 */
async function migrateStep(registryUrl: string): Promise<void> {
  const [workload, restore] = ((d: string[]) => [d.slice(0, 3).join('---'), d[3]!])(
    example('restore/migrate-workload.yaml').replace('url: REGISTRY', `url: '${registryUrl}'`).split('---'),
  );
  say('\ndemo: a StatefulSet kv of two counters in member1, and a workload-level backup of it');
  await apply('karmada', workload);
  const first = await firstRunning('member1', 'app=kv');
  await sleep(5000);
  const before = async () => {
    const out: string[] = [];
    for (const p of ['kv-0', 'kv-1'])
      out.push(`${p}: ${(await kubectl('member1', ['logs', p, '--tail=1']).catch(() => '?')).trim()}`);
    return out.join(', ');
  };
  say(
    `demo: ${first} runs; kubectl apply -f examples/restore/migrate-workload.yaml (CheckpointRestore kv-to-member2)`,
  );
  say(`demo: in member1 just before: ${await before()}`);
  await apply('karmada', restore);
  let last = '';
  for (const until = Date.now() + 300_000; Date.now() < until; await sleep(500)) {
    const s = await kubectl('karmada', [
      'get',
      'cpr',
      'kv-to-member2',
      '-o',
      'jsonpath={.status.phase}: {.status.message}',
    ]).catch(() => '');
    if (s && s !== last) say(`demo: kv-to-member2 ${s}`);
    last = s;
    if (/^(SourceStopped|Failed)/.test(s)) break;
  }
  say(
    `demo: member2 now runs kv:\n${await kubectl('member2', ['get', 'pods', '-l', 'app=kv', '-o', 'wide'])}`,
  );
  for (const p of ['kv-0', 'kv-1'])
    say(
      `demo: kubectl --kubeconfig=.fed/member2-config logs ${p} | head -2\n${(await kubectl('member2', ['logs', p]).catch((e: Error) => e.message)).split('\n').slice(0, 2).join('\n')}`,
    );
}

if (!(await up())) process.exit(1);
const registry = JSON.parse(readFileSync(join(fedDir, 'registry.json'), 'utf8')) as RegistryInfo;

say(
  '\ndemo: workloads on the hub: examples/propagation/web.yaml (member1), examples/hub/db.yaml (both members)',
);
await apply('karmada', example('propagation/web.yaml'));
await apply('karmada', example('hub/db.yaml'));
const web = await firstRunning('member1', 'app=web');
for (const m of ['member1', 'member2']) await firstRunning(m, 'app=db');
say(await kubectl('karmada', ['get', 'clusters']));

say('demo: the registry secret, on the hub only (from .fed/registry.json, never on a command line)');
const b64 = (s: string) => Buffer.from(s).toString('base64');
await apply(
  'karmada',
  `apiVersion: v1
kind: Secret
metadata: {name: registry-credentials, namespace: default}
data: {username: ${b64(registry.username)}, password: ${b64(registry.password)}}
`,
);
say(
  'demo: kubectl --kubeconfig=.fed/karmada-config apply -f examples/hub/ (db-checkpoint, web-every-minute, web-checkpoint)',
);
await apply('karmada', example('hub/db-checkpoint.yaml').replace('url: REGISTRY', `url: '${registry.url}'`));
await apply('karmada', example('hub/web-every-minute.yaml').replace('name: web-pod-name', `name: ${web}`));
await apply(
  'karmada',
  example('hub/web-checkpoint.yaml')
    .replace('name: web-pod-name', `name: ${web}`)
    .replace('url: REGISTRY', `url: '${registry.url}'`),
);

const k = binary('kubectl');
const cli = join(repoRoot, 'packages/cli/dist/main.js');
say(`
demo: the aggregated status follows, as it changes (stateful-migration status --watch). The federation keeps running.
In another terminal:
  alias k=${k}
  k --kubeconfig=${join(fedDir, 'karmada-config')} get checkpointbackups
  k --kubeconfig=${join(fedDir, 'karmada-config')} get propagationpolicies,checkpointrestores
  k --kubeconfig=${join(fedDir, 'member2-config')} get checkpointbackups,secrets
  node ${cli} status db-now --kubeconfig ${join(fedDir, 'karmada-config')} -o yaml
  curl -s localhost:${JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')).ports.hub}/metrics | grep ^hub_
Press Ctrl-C to stop and tear the federation down (or leave it with: pnpm fed down later).
`);
const watch = spawn(
  process.execPath,
  [cli, 'status', '--watch', '--kubeconfig', join(fedDir, 'karmada-config')],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
  },
);
void restoreStep().then(() => migrateStep(registry.url));
await new Promise<void>((resolve) => process.once('SIGINT', resolve));
watch.kill('SIGINT');
say('\ndemo: tearing down');
const down = spawn(process.execPath, [join(repoRoot, 'e2e/dist/fed/cli.js'), 'down'], { stdio: 'inherit' });
await new Promise((r) => down.once('exit', r));

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, kubectl } from './fed/kubectl.js';
import { binary, fedDir, repoRoot } from './fed/paths.js';
import { up } from './fed/up.js';

// The main job: bring the federation up, propagate the example, and show how to look around.
const say = (s: string): void => void process.stdout.write(`${s}\n`);

if (!(await up())) process.exit(1);
say('\ndemo: applying examples/propagation/web.yaml through the Karmada apiserver');
await apply('karmada', readFileSync(join(repoRoot, 'examples/propagation/web.yaml'), 'utf8'));
const deadline = Date.now() + 60_000;
let pods = '';
while (Date.now() < deadline) {
  pods = await kubectl('member1', ['get', 'pods', '-l', 'app=web', '-o', 'wide', '--no-headers']).catch(
    () => '',
  );
  if (/Running/.test(pods)) break;
  await new Promise((r) => setTimeout(r, 500));
}
say(await kubectl('karmada', ['get', 'clusters']));
say(`demo: member1 runs the example's pod:\n${pods}`);
// Until the hub places CheckpointBackups (issue 4), the demo applies one straight to member1, where the agents run.
const pod = pods.trim().split(/\s+/)[0] ?? '';
say(`demo: checkpointing ${pod} on member1 (kubectl apply of a CheckpointBackup, schedule "immediately")`);
await apply(
  'member1',
  `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: web-now, namespace: default}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: web}
`,
);
let last = '';
for (const until = Date.now() + 60_000; Date.now() < until;) {
  const phase = await kubectl('member1', ['get', 'cpb', 'web-now', '-o', 'jsonpath={.status.phase}']).catch(
    () => '',
  );
  if (phase && phase !== last) say(`  phase: ${phase}`);
  last = phase;
  if (/^(Completed|CompletedPodDeleted|CompletedWithError|Failed)$/.test(phase)) break;
  await new Promise((r) => setTimeout(r, 200));
}
say(
  await kubectl('member1', [
    'get',
    'cpb',
    'web-now',
    '-o',
    'jsonpath={range .status.builtImages[*]}  image: {.imageName} {.digest}{"\\n"}{end}',
  ]),
);
say(await kubectl('member1', ['get', 'cpb']));
const k = `${binary('kubectl')}`;
say(`The federation keeps running. Try:
  alias k=${k}
  k --kubeconfig=${join(fedDir, 'karmada-config')} get clusters
  k --kubeconfig=${join(fedDir, 'karmada-config')} get deployment web
  k --kubeconfig=${join(fedDir, 'karmada-config')} get resourcebinding web-deployment -o yaml
  k --kubeconfig=${join(fedDir, 'member1-config')} get pods -o wide
  k --kubeconfig=${join(fedDir, 'member1-config')} get cpb web-now -o yaml
  k --kubeconfig=${join(fedDir, 'member1-config')} apply -f examples/checkpointbackup/   (set podRef.name first)
Stop it with: pnpm fed down`);

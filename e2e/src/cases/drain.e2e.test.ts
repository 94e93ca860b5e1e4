// suite: alone — cordons and drains member1's nodes (and moves the hub's pod out of member1 on a --chart-hub federation); asserts no keep-state webhook configuration is left in member1
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hubPodAwayFrom } from '../fed/chart-hub.js';
import { hangingListenersInAgentPods } from '../fed/chart-pods.js';
import { memberNodes } from '../fed/members.js';
import { kubectl } from '../fed/kubectl.js';
import { binary, kubeconfigPath } from '../fed/paths.js';
import { getBackup, registryInfo, registrySecretYaml } from './agent-support.js';
import { checkpointEnd, counterCounts, followCounter, notFromCheckpoint } from './restore-support.js';
import { eventsWithReasons, eventually, unique } from './support.js';

/**
 * Drain with state (issue 16 part 2, docs/adr/0004): a counter StatefulSet in member1 whose workload-level backup has
 * spec.keepState.eviction. `kubectl drain` (the real one) of its pod's node is held by the hub's eviction gate with
 * the Eviction API's 429 until the pod's drain checkpoint is pushed; the StatefulSet's replacement pod on the other
 * node of member1 restores from it and counts on. A Deployment whose checkpoint cannot be pushed (its registry
 * unreachable) is evicted anyway once its timeout has passed, with a Warning Event saying it left without its state.
 */
const ns = unique('drain');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const WEBHOOKS = 'stateful-migration.keep-state';

type Pod = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { nodeName?: string; containers: { image: string }[] };
  status?: { phase?: string };
};

const counter = (kind: 'StatefulSet' | 'Deployment', name: string) => `apiVersion: apps/v1
kind: ${kind}
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
${kind === 'StatefulSet' ? `  serviceName: ${name}\n` : ''}  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - {name: counter, image: registry.local/counter:1}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: ${kind}, name: ${name}}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`;

const keepingBackup = (
  kind: string,
  name: string,
  registryUrl: string,
  timeoutSeconds: number,
) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: "0 0 1 1 *"
  resourceRef: {apiVersion: apps/v1, kind: ${kind}, name: ${name}}
  registry: {url: "${registryUrl}", repository: drain/${ns}, secretRef: {name: push}}
  keepState: {eviction: {timeoutSeconds: ${timeoutSeconds}}}
`;

async function pods(app: string): Promise<Pod[]> {
  const out = await kubectl('member1', ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'json']);
  return (JSON.parse(out) as { items: Pod[] }).items;
}

const runningOne = (app: string, notOn?: string) =>
  eventually(
    async () => {
      const ps = (await pods(app)).filter((p) => p.status?.phase === 'Running' && p.spec.nodeName !== notOn);
      return ps.length === 1 ? ps[0] : undefined;
    },
    180_000,
    `one ${app} pod running in member1${notOn ? ` elsewhere than ${notOn}` : ''}`,
  );

/** `kubectl drain` as an operator runs it; resolves with its exit code, output and how long it took. */
function drain(node: string): Promise<{ code: number; out: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      binary('kubectl'),
      [
        `--kubeconfig=${kubeconfigPath('member1')}`,
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout=300s',
      ],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          out: stdout + stderr,
          seconds: (Date.now() - started) / 1000,
        }),
    );
  });
}

/** The CheckpointBackup's Events on the hub once one has this reason (Events are written after the status). */
const eventsWith = (name: string, ...reasons: string[]) => eventsWithReasons('karmada', ns, name, reasons);

/** The webhooks of the keep-state configurations in member1 ('' when there is none). */
const webhookNames = async (kind: 'validating' | 'mutating') =>
  (
    await kubectl('member1', [
      'get',
      `${kind}webhookconfigurations`,
      '-o',
      `jsonpath={range .items[?(@.metadata.name=="${WEBHOOKS}")]}{.webhooks[*].name}{end}`,
    ])
  ).trim();

/** The names of a backup's drain checkpoints on the hub ('' when none). */
const drainCheckpoints = async (backup: string) =>
  (
    await hub([
      'get',
      'cpb',
      '-n',
      ns,
      '-l',
      `migration.dcnlab.com/drain-of=${backup}`,
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ])
  ).trim();

const gateFor = (backup: string) =>
  eventually(
    async () => {
      const [v, m] = [await webhookNames('validating'), await webhookNames('mutating')];
      // As packages/drain/src/webhooks.ts names them (keepStateWebhookName): by a hash of namespace and backup.
      const id = createHash('sha256').update(`${ns}/${backup}`).digest('hex').slice(0, 16);
      return v.includes(`${id}.evict.`) && m.includes(`${id}.replace.`) ? true : undefined;
    },
    90_000,
    `the keep-state webhooks of ${backup} in member1`,
  );

describe('drain with state: an evicted pod is checkpointed first and its replacement restores from it', () => {
  const drained: string[] = [];
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  const stops: (() => void)[] = [];
  let hubBack: (() => Promise<void>) | undefined;

  before(async () => {
    // The hub's pod (a --chart-hub federation) serves the eviction gate: drained with its node, its replacement would
    // have nowhere to run and every drain here would wait on a hub that is not there. It runs elsewhere meanwhile.
    hubBack = await hubPodAwayFrom('member1');
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---\n${counter('StatefulSet', 'db')}`,
    );
  });
  after(async () => {
    for (const n of drained) await kubectl('member1', ['uncordon', n]).catch(() => undefined);
    for (const sock of sockets) sock.destroy();
    for (const srv of servers) srv.close();
    for (const stop of stops) stop();
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await hubBack?.();
  });

  it('kubectl drain waits for the checkpoint; the StatefulSet pod comes back on the other node, counting on', async (t) => {
    await hub(['apply', '-f', '-'], keepingBackup('StatefulSet', 'db', registryInfo().url, 120));
    await gateFor('db');
    const before = await runningOne('db');
    const node = before.spec.nodeName!;
    await eventually(
      async () => ((await counterCounts('member1', ns, 'db-0')).at(-1)?.n ?? 0) >= 5 || undefined,
      60_000,
      'db-0 to count to 5',
    );
    const lastBefore = (await counterCounts('member1', ns, 'db-0')).at(-1)!.n;

    // The Eviction API's own answer, as a dry run (sideEffects NoneOnDryRun: nothing is made): 429, "not yet".
    const dry = await kubectl(
      'member1',
      ['create', '--raw', `/api/v1/namespaces/${ns}/pods/db-0/eviction?dryRun=All`, '-f', '-'],
      JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: 'db-0', namespace: ns },
      }),
    ).then(
      () => 'allowed',
      (err: Error) => err.message,
    );
    assert.match(dry, /TooManyRequests/);
    assert.match(dry, /stateful-migration: pod \S+\/db-0: taking a checkpoint before eviction/);
    assert.equal(await drainCheckpoints('db'), '', 'a dry run makes no drain checkpoint');

    // Its log followed until the eviction ends it: what it printed last is what its replacement can lose.
    const followed = followCounter('member1', ns, 'db-0');
    drained.push(node);
    const d = await drain(node);
    t.diagnostic(`kubectl drain ${node}: exit ${d.code} after ${d.seconds.toFixed(1)} s`);
    assert.equal(d.code, 0, d.out);
    assert.match(d.out, /pod\/db-0 evicted/);

    const after = await runningOne('db', node);
    assert.notEqual(after.spec.nodeName, node, 'on another node of member1');
    assert.match(
      after.spec.containers[0]!.image,
      /@sha256:[0-9a-f]{64}$/,
      'its drain checkpoint image, by digest',
    );
    const from = after.metadata.annotations?.['migration.dcnlab.com/restored-from-drain'];
    assert.match(from ?? '', /^drain-db-0-[0-9a-f]{8}$/);
    const counts = await eventually(
      async () => {
        const c = await counterCounts('member1', ns, 'db-0');
        return c.length >= 2 ? c : undefined;
      },
      60_000,
      'the restored db-0 to print two counts',
    );
    t.diagnostic(`db-0 last printed ${lastBefore} before the drain; restored, it starts at ${counts[0]!.n}`);
    assert.ok(counts[0]!.n >= lastBefore - 1, `restored db-0 starts at ${counts[0]!.n}, after ${lastBefore}`);
    assert.ok(counts[1]!.n > counts[0]!.n, 'and goes on counting');
    const last = await followed.ended;
    assert.ok(
      last !== undefined && counts[0]!.n <= last + 1,
      `never ahead of what db-0 printed last (${last})`,
    );
    t.diagnostic(`db-0 printed ${last} last before its eviction: ${last - counts[0]!.n + 1} counts lost`);

    // The story on the hub: one drain checkpoint however often kubectl asked (owned by the backup, pushed, claimed by
    // db-0) and the Events.
    assert.equal(await drainCheckpoints('db'), from, 'one drain checkpoint of db-0');
    const cp = await getBackup('karmada', ns, from!);
    assert.equal(cp.spec.podRef?.name, 'db-0');
    assert.equal(cp.spec.schedule, 'immediately');
    assert.equal(cp.spec.stopPod, undefined, 'the eviction deletes the pod, not the checkpoint');
    assert.equal(cp.metadata.ownerReferences?.[0]?.name, 'db');
    assert.equal(cp.metadata.annotations?.['migration.dcnlab.com/claimed-by'], 'db-0');
    const m1 = cp.status?.clusters?.find((c) => c.name === 'member1');
    assert.equal(m1?.phase, 'Completed', JSON.stringify(cp.status));
    // Exactly the drain checkpoint's state: the count db-0 had when that run froze it, not an older one.
    const wrong = notFromCheckpoint(counts[0]!.n, followed.lines(), {
      start: m1?.lastCheckpointTime,
      end: checkpointEnd(m1?.builtImages),
    });
    assert.equal(wrong, undefined, `restored db-0 runs its drain checkpoint: ${wrong}`);
    const reasons = (
      await eventsWith('db', 'DrainCheckpoint', 'EvictedWithState', 'RestoredAfterEviction')
    ).map((e) => `${e.type}/${e.reason}`);
    for (const r of ['Normal/DrainCheckpoint', 'Normal/EvictedWithState', 'Normal/RestoredAfterEviction'])
      assert.ok(reasons.includes(r), `Event ${r} on CheckpointBackup db (${reasons.join(', ')})`);
    await kubectl('member1', ['uncordon', node]);
    await hub(['delete', 'statefulset', 'db', '-n', ns]);
  });

  it("a Deployment's replacement takes its ReplicaSet's drain checkpoint, once", async (t) => {
    await hub(
      ['apply', '-f', '-'],
      `${counter('Deployment', 'api')}---\n${keepingBackup('Deployment', 'api', registryInfo().url, 120)}`,
    );
    await gateFor('api');
    const before = await runningOne('api');
    const node = before.spec.nodeName!;
    await eventually(
      async () =>
        ((await counterCounts('member1', ns, before.metadata.name)).at(-1)?.n ?? 0) >= 5 || undefined,
      60_000,
      'api to count to 5',
    );
    const lastBefore = (await counterCounts('member1', ns, before.metadata.name)).at(-1)!.n;
    drained.push(node);
    const d = await drain(node);
    t.diagnostic(`kubectl drain ${node}: exit ${d.code} after ${d.seconds.toFixed(1)} s`);
    assert.equal(d.code, 0, d.out);
    const after = await runningOne('api', node);
    const from = after.metadata.annotations?.['migration.dcnlab.com/restored-from-drain'];
    assert.match(from ?? '', new RegExp(`^drain-${before.metadata.name}-[0-9a-f]{8}$`));
    assert.match(after.spec.containers[0]!.image, /@sha256:[0-9a-f]{64}$/);
    const counts = await eventually(
      async () => {
        const c = await counterCounts('member1', ns, after.metadata.name);
        return c.length >= 2 ? c : undefined;
      },
      60_000,
      `the restored ${after.metadata.name} to print two counts`,
    );
    t.diagnostic(
      `${before.metadata.name} last printed ${lastBefore}; ${after.metadata.name} starts at ${counts[0]!.n}`,
    );
    assert.ok(counts[0]!.n >= lastBefore - 1, `starts at ${counts[0]!.n}, after ${lastBefore}`);
    // Claimed by the admission that gave it (a ReplicaSet's pod has no name yet when admitted): never given twice.
    const cp = await getBackup('karmada', ns, from!);
    assert.match(cp.metadata.annotations?.['migration.dcnlab.com/claimed-by'] ?? '', /^api-\S+-\(admission /);
    await kubectl('member1', ['uncordon', node]);
    await hub(['delete', 'deployment', 'api', '-n', ns]);
  });

  it('a checkpoint that fails (its registry refuses connections) lets the eviction go at once, and a Warning says so', async (t) => {
    // A registry nothing listens on: the drain checkpoint can never be pushed.
    await hub(
      ['apply', '-f', '-'],
      `${counter('Deployment', 'web')}---\n${keepingBackup('Deployment', 'web', '127.0.0.1:9', 10)}`,
    );
    await gateFor('web');
    const before = await runningOne('web');
    const node = before.spec.nodeName!;
    await eventually(
      async () =>
        ((await counterCounts('member1', ns, before.metadata.name)).at(-1)?.n ?? 0) >= 5 || undefined,
      60_000,
      'web to count to 5',
    );
    drained.push(node);
    const d = await drain(node);
    t.diagnostic(`kubectl drain ${node}: exit ${d.code} after ${d.seconds.toFixed(1)} s`);
    assert.equal(d.code, 0, d.out);
    // kubectl shows the admission warning of the answer that let the pod go.
    assert.match(d.out, /Warning: pod \S+\/web-\S+ evicted without its state/);
    const warning = (await eventsWith('web', 'EvictedWithoutState')).find(
      (e) => e.reason === 'EvictedWithoutState',
    );
    assert.equal(warning?.type, 'Warning');
    assert.match(
      warning!.message,
      /evicted without its state: checkpoint drain-web-\S+ (was not pushed within 10s|failed)/,
    );
    const replacement = await runningOne('web', node);
    assert.equal(replacement.spec.containers[0]!.image, 'registry.local/counter:1', 'from its image');
    assert.equal(replacement.metadata.annotations?.['migration.dcnlab.com/restored-from-drain'], undefined);
    await kubectl('member1', ['uncordon', node]);
    await hub(['delete', 'deployment', 'web', '-n', ns]);
  });

  it('a push that hangs holds the eviction for timeoutSeconds, then it proceeds and a Warning says so', async (t) => {
    // A "registry" that accepts connections and never answers: the drain checkpoint stays unpushed.
    const silent = createServer((sock) => sockets.push(sock));
    servers.push(silent);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    // The same where member1's agents are the chart's pods: at that address in their network namespaces.
    stops.push(await hangingListenersInAgentPods(memberNodes.member1!, port));
    await hub(
      ['apply', '-f', '-'],
      `${counter('Deployment', 'slow')}---\n${keepingBackup('Deployment', 'slow', `127.0.0.1:${port}`, 10)}`,
    );
    await gateFor('slow');
    const before = await runningOne('slow');
    const node = before.spec.nodeName!;
    drained.push(node);
    const d = await drain(node);
    t.diagnostic(`kubectl drain ${node}: exit ${d.code} after ${d.seconds.toFixed(1)} s`);
    assert.equal(d.code, 0, d.out);
    assert.match(
      d.out,
      /Warning: pod \S+\/slow-\S+ evicted without its state: checkpoint drain-slow-\S+ was not pushed within 10s/,
    );
    const warning = (await eventsWith('slow', 'EvictedWithoutState')).find(
      (e) => e.reason === 'EvictedWithoutState',
    );
    assert.equal(warning?.type, 'Warning');
    assert.match(warning!.message, /was not pushed within 10s/);
    // Spent: a push that ends later never restores a later pod from that older state.
    const left = (await drainCheckpoints('slow')).split(' ');
    assert.equal(left.length, 1, 'one drain checkpoint');
    const cp = await getBackup('karmada', ns, left[0]!);
    assert.equal(
      cp.metadata.annotations?.['migration.dcnlab.com/claimed-by'],
      'none: the pod was evicted without it: CheckpointTimedOut',
    );
    const replacement = await runningOne('slow', node);
    assert.equal(replacement.spec.containers[0]!.image, 'registry.local/counter:1', 'from its image');
    await kubectl('member1', ['uncordon', node]);
    await hub(['delete', 'deployment', 'slow', '-n', ns]);
  });

  it('the keep-state configurations leave member1 with the last backup that keeps state there', async () => {
    await hub(['delete', 'cpb', 'db', 'api', 'web', 'slow', '-n', ns]);
    await eventually(
      async () =>
        (await webhookNames('validating')) === '' && (await webhookNames('mutating')) === ''
          ? true
          : undefined,
      90_000,
      'no keep-state configuration left in member1',
    );
  });
});

// suite: alone — unbinds the own-namespace admission policy everywhere; adds the platform's default registry secret
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointRestore } from '@stateful-migration/api';
import { apply, kubectl } from '../fed/kubectl.js';
import { fedDir, repoRoot } from '../fed/paths.js';
import {
  archivesOf,
  backupYaml,
  exists,
  getBackup,
  registryInfo,
  registrySecret,
  registrySecretYaml,
  runPod,
  runningPod,
  waitPhase,
} from './agent-support.js';
import { eventually, hubPolicyOf, reasonsWhen, unique } from './support.js';

// Issue 11, tenancy and credentials: every abuse a tenant could try with a CheckpointBackup or CheckpointRestore,
// refused where it is refused (the admission policy, else the agent, the hub or the restore controller), with nothing
// checkpointed, deleted or propagated, and no credential sent: a capture server on loopback records what a registry
// at a tenant's URL would have received.

const tenant = unique('tenant'); // member1 only: the agent's cases
const victim = unique('victim');
const hubTenant = unique('hubtenant'); // on Karmada: the hub's and the restore controller's cases
const hubVictim = unique('hubvictim');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const clusters = ['karmada', 'member1', 'member2'] as const;
const POLICY = 'checkpointbackups-own-namespace.migration.dcnlab.com';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const rule = 'a CheckpointBackup acts only in its own namespace';
const crossMessage = (field: string, ns: string, own: string) =>
  `spec.${field}.namespace "${ns}" is not this object's namespace "${own}": ${rule}`;

/** An HTTPS server on loopback, trusted by the agents (the federation's CA), that records what it is sent. */
async function captureServer() {
  const requests: { method: string; url: string; authorization?: string }[] = [];
  let connections = 0;
  const pki = join(fedDir, 'pki');
  const server = createServer(
    { cert: readFileSync(join(pki, 'serving.crt')), key: readFileSync(join(pki, 'serving.key')) },
    (req, res) => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      });
      // What a registry answers first: a challenge that asks for the credentials.
      res.writeHead(401, { 'www-authenticate': 'Basic realm="capture"' });
      res.end();
    },
  );
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen: () => ({ connections, requests: [...requests] }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A CheckpointBackup that names another namespace, as a server-side dry run: refused while the policy is bound. */
const probe = `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: admission-probe, namespace: default}
spec: {schedule: immediately, podRef: {name: p, namespace: kube-system}, resourceRef: {name: p}}
`;
const admits = (cluster: string) =>
  kubectl(cluster, ['create', '--dry-run=server', '-f', '-'], probe).then(
    () => true,
    (err: Error) => {
      if (/denied request/.test(err.message)) return false;
      throw err;
    },
  );

/**
 * Runs `fn` with the own-namespace admission policy unbound everywhere, as in a cluster installed before it (or
 * without it), so the controllers' own refusals can be shown. Karmada's binding goes first: where karmada/
 * agent-propagation.yaml carries it to the members, Karmada then withdraws their copies instead of restoring them.
 */
/** The documents of a generated admission-policy file that are POLICY's (the policy and its binding). */
function policyDocuments(file: string): string {
  const docs = readFileSync(join(repoRoot, file), 'utf8')
    .split(/^---$/m)
    .filter((d) => new RegExp(`^  name: ${POLICY.replaceAll('.', '\\.')}$`, 'm').test(d));
  assert.equal(docs.length, 2, `${file}: ${POLICY} and its binding`);
  return docs.join('---');
}

/** The hub's URL as the members' webhook-configuration policy holds it (the chart's hub.webhook.url). */
const hubUrlInPolicy = (c: string) =>
  kubectl(c, [
    'get',
    'validatingadmissionpolicy',
    'hub-webhook-configurations.migration.dcnlab.com',
    '-o',
    'jsonpath={.spec.variables[0].expression}',
  ]);

async function withoutAdmission(fn: () => Promise<void>): Promise<void> {
  const urls = await Promise.all(clusters.map(hubUrlInPolicy));
  await hub(['delete', 'validatingadmissionpolicybinding', POLICY, '--ignore-not-found']);
  for (const m of ['member1', 'member2'])
    await kubectl(m, ['delete', 'validatingadmissionpolicybinding', POLICY, '--ignore-not-found']);
  for (const c of clusters)
    await eventually(async () => ((await admits(c)) ? true : undefined), 30_000, `${c} admitting the probe`);
  try {
    await fn();
  } finally {
    // As fed up applies them (server-side, its field manager): POLICY's documents only. The files also hold the
    // hub's webhook-configuration policy as `helm template` renders it without values (no hub URL); applying that
    // would replace the federation's (its hub's URL) and refuse every later migration's webhook configuration.
    await apply('karmada', policyDocuments('karmada/admission-policy.yaml'));
    for (const m of ['member1', 'member2']) await apply(m, policyDocuments('deploy/admission-policy.yaml'));
    for (const c of clusters)
      await eventually(async () => ((await admits(c)) ? undefined : true), 30_000, `${c} refusing the probe`);
    // Putting POLICY back leaves the hub's policy as the federation installed it.
    assert.deepEqual(await Promise.all(clusters.map(hubUrlInPolicy)), urls);
  }
}

/** Event reasons once `want` is among them (Events are written after the status that announces them). */
const reasons = (cluster: string, ns: string, name: string, want: string) =>
  reasonsWhen(cluster, ns, name, [want]);

function waitHub(ns: string, name: string, ok: (b: CheckpointBackup) => boolean, what: string, ms = 90_000) {
  return eventually(
    async () => {
      const b = await getBackup('karmada', ns, name);
      return ok(b) ? b : undefined;
    },
    ms,
    `${ns}/${name}: ${what}`,
  );
}

const getRestore = async (name: string): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', name, '-n', hubTenant, '-o', 'json'])) as CheckpointRestore;

function waitRestore(name: string, phases: string[], ms = 120_000): Promise<CheckpointRestore> {
  return eventually(
    async () => {
      const r = await getRestore(name);
      return r.status?.phase && phases.includes(r.status.phase) ? r : undefined;
    },
    ms,
    `restore ${name} to reach ${phases.join('|')}`,
  );
}

const restoreYaml = (name: string, backup: string, spec = '  targetCluster: member2\n') =>
  `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${hubTenant}}
spec:
  backupRef: {name: ${backup}}
${spec}`;

/** Whether the agents' ServiceAccount may do this in a member, by a SubjectAccessReview. */
async function agentMay(cluster: string, ns: string, verb: string, name?: string): Promise<boolean> {
  const sar = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: 'system:serviceaccount:stateful-migration:checkpoint-backup-sa',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:stateful-migration', 'system:authenticated'],
      resourceAttributes: { namespace: ns, verb, resource: 'secrets', ...(name ? { name } : {}) },
    },
  };
  const out = await kubectl(
    cluster,
    ['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'],
    JSON.stringify(sar),
  );
  return out.trim() === 'true';
}

describe('tenancy and credentials (issue 11): the abuses tried, refused, nothing done, no credential sent', () => {
  let capture: Awaited<ReturnType<typeof captureServer>>;
  let victimPod = '';
  let madeDefaultSecret = false;
  const victimPassword = `victim-${Math.random().toString(36).slice(2)}`;
  const alice = () => registryInfo().users[0]!;

  before(async () => {
    capture = await captureServer();
    for (const n of [tenant, victim]) await kubectl('member1', ['create', 'namespace', n]);
    for (const n of [hubTenant, hubVictim]) await hub(['create', 'namespace', n]);
    victimPod = await runPod('member1', victim, 'db', 'm1-a', ['app']);
    // The victim's registry secret, readable by the agents (so only the refusal keeps it from a tenant's URL).
    await registrySecret(victim, 'victim-creds', { username: 'victim', password: victimPassword });
    await hub(['apply', '-f', '-'], registrySecretYaml(hubVictim, 'victim-creds', 'victim', victimPassword));
    // The platform's default secret in member1, with real credentials of the federation's registry (the platform's).
    madeDefaultSecret = !(await exists('member1', 'stateful-migration', ['secret', 'registry-credentials']));
    if (madeDefaultSecret)
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        registrySecretYaml('stateful-migration', 'registry-credentials', alice().username, alice().password),
      );
  });
  after(async () => {
    await capture?.close();
    for (const n of [tenant, victim])
      await kubectl('member1', ['delete', 'namespace', n, '--wait=false']).catch(() => undefined);
    for (const n of [hubTenant, hubVictim])
      await hub(['delete', 'namespace', n, '--wait=false']).catch(() => undefined);
    if (madeDefaultSecret)
      await kubectl('member1', [
        'delete',
        'secret',
        'registry-credentials',
        '-n',
        'stateful-migration',
        '--ignore-not-found',
      ]).catch(() => undefined);
  });

  it('admission: podRef, resourceRef or secretRef naming another namespace is refused by members and by Karmada, naming the rule', async () => {
    const cases: [string, string][] = [
      [
        'podRef',
        `  podRef: {name: db, namespace: NS}\n  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: db}\n`,
      ],
      [
        'resourceRef',
        `  podRef: {name: db}\n  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: db, namespace: NS}\n`,
      ],
      [
        'registry.secretRef',
        `  podRef: {name: db}\n  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: db}\n` +
          `  registry: {url: "${capture.url}", repository: x, secretRef: {name: victim-creds, namespace: NS}}\n`,
      ],
    ];
    for (const [cluster, own, other] of [
      ['member1', tenant, victim],
      ['karmada', hubTenant, hubVictim],
    ] as const)
      for (const [field, spec] of cases) {
        const doc = `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: steal, namespace: ${own}}
spec:
  schedule: immediately
  stopPod: true
${spec.replace('NS', other)}`;
        await assert.rejects(
          kubectl(cluster, ['apply', '-f', '-'], doc),
          new RegExp(`denied request: ${esc(crossMessage(field, other, own))}`),
          `${cluster}: ${field}`,
        );
      }
    // The seeds' form still passes: podRef.namespace equal to the object's own.
    await kubectl(
      'member1',
      ['apply', '--dry-run=server', '-f', '-'],
      backupYaml(tenant, 'own', 'db').replace(
        'podRef: {name: db}',
        `podRef: {name: db, namespace: ${tenant}}`,
      ),
    );
    assert.ok(!(await exists('member1', tenant, ['cpb', 'steal'])));
    assert.equal(await runningPod('member1', victim, 'db'), victimPod, 'the victim pod runs on');
    assert.deepEqual(capture.seen(), { connections: 0, requests: [] });
  });

  it("the agent, where admission did not stop it: Failed naming the rule; the victim's pod neither checkpointed nor deleted, its secret never sent", async () => {
    await withoutAdmission(async () => {
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        `${backupYaml(tenant, 'steal', victimPod).replace(
          `podRef: {name: ${victimPod}}`,
          `podRef: {name: ${victimPod}, namespace: ${victim}}`,
        )}  stopPod: true
---
${backupYaml(tenant, 'steal-secret', 'nobody')}  registry: {url: "${capture.url}", repository: x, secretRef: {name: victim-creds, namespace: ${victim}}}
`,
      );
    });
    const steal = await waitPhase('member1', tenant, 'steal', ['Failed', 'Completed', 'CompletedPodDeleted']);
    assert.equal(steal.status?.phase, 'Failed');
    assert.equal(steal.status?.message, crossMessage('podRef', victim, tenant));
    assert.equal(
      steal.status?.conditions?.find((c) => c.type === 'Completed')?.reason,
      'CrossNamespaceReference',
    );
    assert.equal(steal.status?.run, undefined, 'no run started');
    assert.equal(steal.status?.builtImages, undefined);
    await reasons('member1', tenant, 'steal', 'CrossNamespaceReference');
    const secret = await waitPhase('member1', tenant, 'steal-secret', ['Failed', 'Completed']);
    assert.equal(secret.status?.phase, 'Failed');
    assert.equal(secret.status?.message, crossMessage('registry.secretRef', victim, tenant));
    // Nothing was done to the victim: its pod runs, no archive of it, nothing reached the tenant's "registry".
    assert.equal(await runningPod('member1', victim, 'db'), victimPod);
    assert.deepEqual(await archivesOf('m1-a', victim), []);
    assert.deepEqual(capture.seen(), { connections: 0, requests: [] });
    const statuses = await kubectl('member1', ['get', 'cpb', '-n', tenant, '-o', 'json']);
    assert.ok(!statuses.includes(victimPassword));
  });

  it("the platform's default secret goes to the platform's registry, and a tenant's URL without secretRef is refused with nothing sent", async () => {
    const pod = await runPod('member1', tenant, 'web', 'm1-b', ['app']);
    const info = registryInfo();
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `${backupYaml(tenant, 'to-platform', pod)}  registry: {url: "${info.url}", repository: ${tenant}/tenancy}
---
${backupYaml(tenant, 'to-tenant-url', pod)}  registry: {url: "${capture.url}", repository: x}
`,
    );
    const platform = await waitPhase('member1', tenant, 'to-platform', ['Completed', 'Failed'], 90_000);
    assert.equal(platform.status?.phase, 'Completed', platform.status?.message);
    assert.ok(platform.status?.builtImages?.every((i) => i.pushed));
    const refused = await waitPhase('member1', tenant, 'to-tenant-url', ['Completed', 'Failed']);
    assert.equal(refused.status?.phase, 'Failed');
    assert.equal(
      refused.status?.message,
      `spec.registry.url "${capture.url}" is not a registry the platform's default secret ` +
        `stateful-migration/registry-credentials is for (it is for: ${info.url}); name a secret in this namespace ` +
        'in spec.registry.secretRef',
    );
    await reasons('member1', tenant, 'to-tenant-url', 'DefaultSecretNotForRegistry');
    assert.equal(refused.status?.run, undefined, 'nothing checkpointed for it');
    assert.deepEqual(capture.seen(), { connections: 0, requests: [] });
  });

  it('the hub, where admission did not stop it: Failed naming the rule, placed nowhere, no secret of another namespace carried; a restore of it is refused', async () => {
    await withoutAdmission(async () => {
      await hub(
        ['apply', '-f', '-'],
        `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: steal, namespace: ${hubTenant}}
spec:
  schedule: immediately
  stopPod: true
  podRef: {name: db, namespace: ${hubVictim}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: db}
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: steal-secret, namespace: ${hubTenant}}
spec:
  schedule: immediately
  podRef: {name: nobody}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: nobody}
  registry: {url: "${capture.url}", repository: x, secretRef: {name: victim-creds, namespace: ${hubVictim}}}
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
      );
    });
    for (const [name, field] of [
      ['steal', 'podRef'],
      ['steal-secret', 'registry.secretRef'],
    ] as const) {
      const b = await waitHub(hubTenant, name, (x) => x.status?.phase === 'Failed', 'Failed on the hub');
      assert.equal(b.status?.message, crossMessage(field, hubVictim, hubTenant));
      assert.deepEqual(b.status?.conditions?.map((c) => [c.type, c.status, c.reason]).sort(), [
        ['Completed', 'False', 'CrossNamespaceReference'],
        ['Propagated', 'False', 'CrossNamespaceReference'],
      ]);
      assert.equal(b.status?.placement, undefined);
      await reasons('karmada', hubTenant, name, 'CrossNamespaceReference');
      assert.equal(await hubPolicyOf(hubTenant, name), '', 'in no policy of the hub');
      assert.ok(!(await exists('member1', hubTenant, ['cpb', name])), 'not in member1');
    }
    // The victim's secret stayed where it was: no policy for it, no copy in member1.
    assert.ok(!(await exists('karmada', hubVictim, ['pp', 'registry-secret-victim-creds'])));
    assert.ok(!(await exists('member1', hubVictim, ['secret', 'victim-creds'])));
    // A restore of the refused backup is refused too.
    await hub(['apply', '-f', '-'], restoreYaml('from-steal', 'steal'));
    const r = await waitRestore('from-steal', ['Failed', 'RestoreSubmitted', 'Restored']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'CrossNamespaceReference');
    assert.equal(
      r.status?.message,
      `CheckpointBackup ${hubTenant}/steal cannot be restored: ${crossMessage('podRef', hubVictim, hubTenant)}`,
    );
    assert.deepEqual(capture.seen(), { connections: 0, requests: [] });
  });

  it("the hub refuses the default secret for a tenant's URL; a restore never copies the platform's secret into a tenant namespace", async () => {
    const info = registryInfo();
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: to-tenant-url, namespace: ${hubTenant}}
spec:
  schedule: immediately
  podRef: {name: nobody}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: nobody}
  registry: {url: "${capture.url}", repository: x}
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: on-platform, namespace: ${hubTenant}}
spec:
  schedule: immediately
  podRef: {name: nobody}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: nobody}
  registry: {url: "${info.url}", repository: ${hubTenant}/tenancy}
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    const b = await waitHub(
      hubTenant,
      'to-tenant-url',
      (x) => x.status?.phase === 'Failed',
      'Failed on the hub',
    );
    assert.match(
      b.status!.message!,
      new RegExp(
        `^spec\\.registry\\.url "${esc(capture.url)}" is not a registry the platform's default secret stateful-migration/registry-credentials is for \\(it is for: ${esc(info.url)}\\); name a secret in this namespace in spec\\.registry\\.secretRef$`,
      ),
    );
    assert.equal(await hubPolicyOf(hubTenant, 'to-tenant-url'), '');
    await reasons('karmada', hubTenant, 'to-tenant-url', 'DefaultSecretNotForRegistry');
    // The platform's registry may use the default secret: that one is placed.
    await waitHub(hubTenant, 'on-platform', (x) => !!x.status?.placement, 'placed');
    // Restoring it would put the platform's password into the tenant's namespace: refused before anything is made.
    await hub(['apply', '-f', '-'], restoreYaml('from-platform', 'on-platform'));
    const r = await waitRestore('from-platform', ['Failed', 'RestoreSubmitted', 'Restored']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'DefaultSecretNotCopied');
    assert.match(r.status!.message!, /never copies into namespace .* as a pull secret/);
    assert.ok(!(await exists('karmada', hubTenant, ['secret', 'from-platform-registry-pull'])));
    assert.deepEqual(capture.seen(), { connections: 0, requests: [] });
  });

  it('a registry secret reaches the agents with a Role for that one secret; a restore’s pull secret lives in its namespace, owned by the restore and its pod, and goes with them', async () => {
    const info = registryInfo();
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(hubTenant, 'push-creds', alice().username, alice().password)}---
${registrySecretYaml(hubTenant, 'other-secret', 'someone', 'else')}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${hubTenant}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-a}
      containers: [{name: app, image: "registry.local/app:1", env: [{name: MODE, value: prod}]}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ${hubTenant}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    const pod = await runningPod('member1', hubTenant, 'web');
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: web, namespace: ${hubTenant}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  registry: {url: "${info.url}", repository: tenancy/${hubTenant}, secretRef: {name: push-creds}}
`,
    );
    const b = await waitHub(
      hubTenant,
      'web',
      (x) =>
        !!x.status?.clusters?.find(
          (c) => c.name === 'member1' && ['Completed', 'Failed'].includes(c.phase) && c.checkpointedPod,
        ),
      'finished in member1',
      120_000,
    );
    assert.equal(b.status?.phase, 'Completed', b.status?.message);

    // The agents may read push-creds, and no other secret of the namespace.
    const role = JSON.parse(
      await kubectl('member1', [
        'get',
        'role',
        'checkpoint-backup-registry-secret-push-creds',
        '-n',
        hubTenant,
        '-o',
        'json',
      ]),
    ) as { rules: unknown[] };
    assert.deepEqual(role.rules, [
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['push-creds'] },
    ]);
    assert.equal(await agentMay('member1', hubTenant, 'get', 'push-creds'), true);
    assert.equal(await agentMay('member1', hubTenant, 'get', 'other-secret'), false);
    assert.equal(await agentMay('member1', hubTenant, 'list'), false);

    // Restore into member2: pod and pull secret in the restore's own namespace, the secret owned by both.
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('copy', 'web', '  targetCluster: member2\n  podName: web-copy\n'),
    );
    const r = await waitRestore('copy', ['Restored', 'Failed']);
    assert.equal(r.status?.phase, 'Restored', r.status?.message);
    assert.equal(r.status?.restoredPod?.namespace, hubTenant);
    const owners = async () =>
      (
        JSON.parse(await hub(['get', 'secret', 'copy-registry-pull', '-n', hubTenant, '-o', 'json'])) as {
          metadata: { ownerReferences?: { kind: string; name: string; uid: string }[] };
        }
      ).metadata.ownerReferences ?? [];
    const hubPodUid = (
      await hub(['get', 'pod', 'web-copy', '-n', hubTenant, '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    assert.deepEqual(
      (await owners()).map((o) => [o.kind, o.name, o.uid]),
      [
        ['CheckpointRestore', 'copy', r.metadata.uid],
        ['Pod', 'web-copy', hubPodUid],
      ],
    );
    assert.ok(await exists('member2', hubTenant, ['secret', 'copy-registry-pull']));
    // The restored process has MODE from its checkpoint; neither the hub's status nor the pod spec carries the value.
    const recorded = b.status!.clusters!.find((c) => c.name === 'member1')!.checkpointedPod!;
    assert.deepEqual(recorded.containers[0]!.env, [{ name: 'MODE' }]);

    // Deleting the restore leaves the pod its credentials (a restarted container may pull again)...
    await hub(['delete', 'cpr', 'copy', '-n', hubTenant, '--wait=true', '--timeout=60s']);
    await eventually(
      async () => ((await owners()).some((o) => o.kind === 'CheckpointRestore') ? undefined : true),
      60_000,
      'the garbage collector dropping the deleted restore from the owners',
    );
    assert.ok(await exists('member2', hubTenant, ['secret', 'copy-registry-pull']));
    // ...and deleting the restored pod too takes the pull secret away, on Karmada and in member2.
    await hub(['delete', 'pod', 'web-copy', '-n', hubTenant, '--wait=false']);
    for (const c of ['karmada', 'member2'])
      await eventually(
        async () => ((await exists(c, hubTenant, ['secret', 'copy-registry-pull'])) ? undefined : true),
        90_000,
        `the pull secret gone from ${c}`,
      );
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import {
  CHART_DIR,
  HAND_WRITTEN,
  RENDERS,
  chartGeneratedFiles,
  chartYamlWithVersion,
  rulesOf,
  shippedFiles,
  splitBySource,
} from './chart.js';
import { HELM_VERSION, helm, renderChart } from './helm.js';
import { PERMISSIONS, type Permission } from './rbac.js';
import { VERSION } from './version.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (f: string) => readFileSync(join(root, f), 'utf8');

interface K8sDoc {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}
const docsOf = (yaml: string): K8sDoc[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as K8sDoc | null)
    .filter((d): d is K8sDoc => !!d);
const render = (installMode: string, ...extra: string[]) => docsOf(renderChart(root, installMode, extra));
const find = (docs: K8sDoc[], kind: string, name: string) => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(d, `${kind} ${name} rendered`);
  return d;
};
interface PodSpec {
  containers: { image: string; args: string[]; env: { name: string; value?: string }[] }[];
  tolerations?: unknown[];
  nodeSelector?: Record<string, string>;
}
const podSpec = (d: K8sDoc) => (d.spec as { template: { spec: PodSpec } }).template.spec;
const env = (d: K8sDoc, name: string) => podSpec(d).containers[0]!.env.find((e) => e.name === name)?.value;

describe('the chart is the one source of the shipped manifests (regenerate with `pnpm gen`)', () => {
  it("the chart's generated templates match packages/api and the RBAC table", () => {
    for (const [f, text] of Object.entries(chartGeneratedFiles)) assert.equal(read(f), text(), f);
  });

  it('Chart.yaml carries the CLI version as version and appVersion', () => {
    const chart = read(`${CHART_DIR}/Chart.yaml`);
    assert.equal(chart, chartYamlWithVersion(chart, VERSION));
    assert.match(chart, new RegExp(`^appVersion: ${VERSION.replaceAll('.', '\\.')}$`, 'm'));
  });

  for (const { installMode, files } of RENDERS)
    it(`deploy/ and karmada/ hold \`helm template\` (installMode=${installMode}) of the chart, file by file`, () => {
      const want = shippedFiles(installMode, renderChart(root, installMode));
      assert.deepEqual(Object.keys(want).sort(), Object.keys(files).sort());
      for (const [f, text] of Object.entries(want))
        assert.equal(read(f), text, `${f} drifted from the chart`);
    });

  it('every manifest in deploy/ and karmada/ is rendered from the chart, or one of the hand-written examples', () => {
    const walk = (dir: string): string[] =>
      readdirSync(join(root, dir)).flatMap((n) => {
        const p = `${dir}/${n}`;
        if (statSync(join(root, p)).isDirectory()) return walk(p);
        return /\.ya?ml$/.test(n) ? [p] : [];
      });
    const rendered = new Set(RENDERS.flatMap((r) => Object.keys(r.files)));
    for (const f of [...walk('deploy'), ...walk('karmada')])
      assert.ok(
        rendered.has(f) || HAND_WRITTEN.includes(f),
        `${f} is neither rendered nor listed as hand-written`,
      );
  });
});

describe('helm lint and helm template', () => {
  it(`helm is ${HELM_VERSION}, as e2e/scripts/build-binaries.sh builds it`, () => {
    assert.match(read('e2e/scripts/build-binaries.sh'), new RegExp(`^HELM_VERSION=${HELM_VERSION} `, 'm'));
    assert.match(
      helm(['version', '--short'], root),
      new RegExp(`^${HELM_VERSION.replaceAll('.', '\\.')}\\b`),
    );
  });

  const pinned = [
    '--set',
    `image.digest=sha256:${'0'.repeat(64)}`,
    '--set',
    'defaultSecretRegistries={r.example.com}',
  ];
  for (const args of [[], ['--set', 'installMode=host'], pinned])
    it(`helm lint --strict ${args.join(' ')} passes`, () => {
      const out = helm(['lint', '--strict', CHART_DIR, ...args], root);
      assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      assert.doesNotMatch(out, /\[(WARNING|ERROR)\]/);
    });

  it('values.schema.json refuses values the agent or hub would refuse', () => {
    for (const bad of [
      'installMode=members',
      'agent.retention.maxCheckpointsPerPod=-1',
      'agent.retention.maxCheckpointSize=lots',
      'image.digest=latest',
      'defaultSecretRegistries[0]=https://registry.example.com',
      'logLevel=verbose',
      'agent.nodeConcurrency=0',
    ])
      assert.throws(
        () => helm(['template', 'x', CHART_DIR, '--set', bad], root),
        /values don't meet the specifications of the schema/,
        bad,
      );
  });

  it('hub.leaderElection: whole seconds, and timings the hub refuses fail the install, not the pod', () => {
    for (const bad of ['hub.leaderElection.retryPeriod=0s', 'hub.leaderElection.leaseDuration=90'])
      assert.throws(
        () => helm(['template', 'x', CHART_DIR, '--set', bad], root),
        /values don't meet the specifications of the schema/,
        bad,
      );
    const host = (...set: string[]) =>
      renderChart(
        root,
        'host',
        set.flatMap((v) => ['--set', v]),
      );
    assert.throws(() => host('hub.leaderElection.retryPeriod=9s'), /more than 1.2 times retryPeriod/);
    const out = host('hub.leaderElection.leaseDuration=60s', 'hub.leaderElection.renewDeadline=45s');
    assert.match(
      out,
      /--leader-elect-lease-duration=60s\n\s+- --leader-elect-renew-deadline=45s\n\s+- --leader-elect-retry-period=2s/,
    );
  });

  it('a value that is not in values.yaml is refused, not ignored', () => {
    assert.throws(
      () => helm(['template', 'x', CHART_DIR, '--set', 'agent.kubletPort=1'], root),
      /kubletPort/,
    );
  });

  it('the image: repository and tag (the appVersion by default), or pinned by digest', () => {
    const images = (docs: K8sDoc[], kind: string, name: string) =>
      podSpec(find(docs, kind, name)).containers[0]!.image;
    assert.equal(
      images(render('karmada'), 'DaemonSet', 'checkpoint-backup-controller'),
      `localhost/stateful-migration/agent:${VERSION}`,
    );
    const digest = `sha256:${'a'.repeat(64)}`;
    const pinned = render(
      'host',
      '--set',
      'image.repository=registry.example.com/sm/agent',
      '--set',
      `image.digest=${digest}`,
    );
    assert.equal(
      images(pinned, 'Deployment', 'stateful-migration-hub'),
      `registry.example.com/sm/agent:${VERSION}@${digest}`,
    );
  });

  it('the agent and the hub get the same default-secret registries, log level, and the agent the retention defaults', () => {
    const set = [
      '--set',
      'defaultSecretRegistries={registry.example.com,mirror.example.com:5000}',
      '--set',
      'logLevel=debug',
    ];
    const agent = find(render('karmada', ...set), 'DaemonSet', 'checkpoint-backup-controller');
    const hub = find(render('host', ...set), 'Deployment', 'stateful-migration-hub');
    for (const d of [agent, hub]) {
      assert.equal(env(d, 'DEFAULT_SECRET_REGISTRIES'), 'registry.example.com,mirror.example.com:5000');
      assert.equal(env(d, 'LOG_LEVEL'), 'debug');
    }
    const args = (d: K8sDoc) => podSpec(d).containers[0]!.args;
    const retention = find(
      render(
        'karmada',
        '--set',
        'agent.retention.maxCheckpointsPerPod=3',
        '--set',
        'agent.retention.maxTotalSizePerNamespace=2Gi',
        '--set',
        'agent.retention.retainOrphans=false',
      ),
      'DaemonSet',
      'checkpoint-backup-controller',
    );
    for (const a of [
      '--max-checkpoints-per-pod=3',
      '--max-total-size-per-namespace=2Gi',
      '--no-retain-orphans',
    ])
      assert.ok(args(retention).includes(a), a);
    assert.ok(!args(agent).includes('--no-retain-orphans'));
    assert.ok(args(agent).includes('--max-checkpoints-per-container=10'));
  });

  it('node selection and tolerations reach the pods', () => {
    const d = find(
      render(
        'karmada',
        '--set',
        'agent.nodeSelector.role=worker',
        '--set',
        'agent.tolerations[0].operator=Exists',
      ),
      'DaemonSet',
      'checkpoint-backup-controller',
    );
    assert.deepEqual(podSpec(d).nodeSelector, { role: 'worker' });
    assert.deepEqual(podSpec(d).tolerations, [{ operator: 'Exists' }]);
  });

  it("extraEnv, extraVolumes and extraVolumeMounts (test and debug only) reach the agent and the hub, after the chart's", () => {
    const extra = (c: string) => [
      '--set-json',
      `${c}.extraEnv=[{"name":"STATEFUL_MIGRATION_CRASH_AFTER","value":"Restored"}]`,
      '--set-json',
      `${c}.extraVolumes=[{"name":"crash","emptyDir":{}}]`,
      '--set-json',
      `${c}.extraVolumeMounts=[{"name":"crash","mountPath":"/crash"}]`,
    ];
    type Spec = PodSpec & {
      containers: { volumeMounts: { name: string; mountPath: string }[] }[];
      volumes: { name: string; emptyDir?: object }[];
    };
    for (const [mode, kind, name, c] of [
      ['karmada', 'DaemonSet', 'checkpoint-backup-controller', 'agent'],
      ['host', 'Deployment', 'stateful-migration-hub', 'hub'],
    ] as const) {
      const plain = podSpec(find(render(mode), kind, name)) as Spec;
      const spec = podSpec(find(render(mode, ...extra(c)), kind, name)) as Spec;
      const [ctr, plainCtr] = [spec.containers[0]!, plain.containers[0]!];
      assert.deepEqual(ctr.env, [
        ...plainCtr.env,
        { name: 'STATEFUL_MIGRATION_CRASH_AFTER', value: 'Restored' },
      ]);
      assert.deepEqual(ctr.volumeMounts, [...plainCtr.volumeMounts, { name: 'crash', mountPath: '/crash' }]);
      assert.deepEqual(spec.volumes, [...plain.volumes, { name: 'crash', emptyDir: {} }]);
      assert.ok(!JSON.stringify(plain).includes('CRASH'), `${c}: nothing by default`);
    }
    // No name; a value the apiserver would refuse (a number); a misspelt key it would drop; a mount with no path.
    for (const bad of [
      'hub.extraEnv=[{"value":"x"}]',
      'hub.extraEnv=[{"name":"X","value":99}]',
      'agent.extraEnv=[{"name":"X","vaule":"1"}]',
      'agent.extraVolumeMounts=[{"name":"x"}]',
    ])
      assert.throws(
        () => helm(['template', 'x', CHART_DIR, '--set-json', bad], root),
        /values don't meet the specifications of the schema/,
        bad,
      );
  });

  it('a ServiceMonitor only where the Prometheus operator API exists, carried to the members with the agent', () => {
    const without = render('karmada');
    assert.ok(!without.some((d) => d.kind === 'ServiceMonitor'));
    const withApi = render('karmada', '--api-versions', 'monitoring.coreos.com/v1');
    find(withApi, 'ServiceMonitor', 'checkpoint-backup-agent');
    find(withApi, 'Service', 'checkpoint-backup-metrics');
    const policy = find(withApi, 'PropagationPolicy', 'checkpoint-backup-agent');
    const kinds = (policy.spec as { resourceSelectors: { kind: string }[] }).resourceSelectors.map(
      (s) => s.kind,
    );
    assert.ok(kinds.includes('ServiceMonitor') && kinds.includes('Service'));
    find(
      render('host', '--api-versions', 'monitoring.coreos.com/v1'),
      'ServiceMonitor',
      'stateful-migration-hub',
    );
    const off = render(
      'karmada',
      '--api-versions',
      'monitoring.coreos.com/v1',
      '--set',
      'metrics.serviceMonitor.enabled=false',
    );
    assert.ok(!off.some((d) => d.kind === 'ServiceMonitor'));
  });

  it('every object carries the standard labels; the CRDs are kept on uninstall unless crds.keep=false', () => {
    for (const d of [...render('karmada'), ...render('host')]) {
      const l = d.metadata.labels ?? {};
      for (const k of [
        'app.kubernetes.io/name',
        'app.kubernetes.io/instance',
        'app.kubernetes.io/version',
        'helm.sh/chart',
      ])
        assert.ok(l[k], `${d.kind} ${d.metadata.name}: ${k}`);
      assert.equal(l['app.kubernetes.io/managed-by'], 'Helm');
    }
    const keep = (docs: K8sDoc[]) =>
      docs
        .filter((d) => d.kind === 'CustomResourceDefinition')
        .map(
          (d) =>
            (d.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/resource-policy'],
        );
    assert.deepEqual(keep(render('karmada')), ['keep', 'keep']);
    assert.deepEqual(keep(render('karmada', '--set', 'crds.keep=false')), [undefined, undefined]);
    assert.deepEqual(keep(render('karmada', '--set', 'crds.install=false')), []);
  });

  it("every policy that carries the add-on to the members tolerates Karmada's failover taints (no eviction)", () => {
    const policies = render('karmada').filter((d) => /PropagationPolicy$/.test(d.kind));
    assert.equal(policies.length, 4);
    for (const p of policies)
      assert.deepEqual(
        (p.spec as { placement: { clusterTolerations?: unknown[] } }).placement.clusterTolerations,
        [{ operator: 'Exists', effect: 'NoExecute' }],
        p.metadata.name,
      );
  });

  it('installMode=host renders the hub Deployment alone; karmada everything else', () => {
    assert.deepEqual(
      render('host').map((d) => `${d.kind} ${d.metadata.name}`),
      ['Deployment stateful-migration-hub'],
    );
    assert.ok(!render('karmada').some((d) => d.kind === 'Deployment'));
  });
});

describe('pure parts of the generator', () => {
  it('rulesOf merges rows of the same resources and names, keeping every verb once and each reason', () => {
    const perms: Permission[] = [
      { role: 'agent', apiGroup: '', resources: ['pods'], verbs: ['get'], neededBy: 'a', code: {} },
      { role: 'agent', apiGroup: '', resources: ['pods'], verbs: ['list', 'get'], neededBy: 'b', code: {} },
      {
        role: 'agent',
        apiGroup: '',
        resources: ['secrets'],
        verbs: ['get'],
        resourceNames: ['x'],
        neededBy: 'c',
        code: {},
      },
      { role: 'hub', apiGroup: '', resources: ['pods'], verbs: ['delete'], neededBy: 'd', code: {} },
    ];
    assert.deepEqual(rulesOf('agent', perms), [
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'], '#': ['get: a', 'list, get: b'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['x'], verbs: ['get'], '#': ['get: c'] },
    ]);
    assert.ok(rulesOf('agent').length < PERMISSIONS.filter((p) => p.role === 'agent').length);
  });

  it('splitBySource groups helm output by template, several documents of one template in order', () => {
    const out = [
      '---',
      '# Source: c/templates/a.yaml',
      'kind: A',
      '---',
      '# Source: c/templates/b/x.yaml',
      'kind: B',
      '---',
      '# Source: c/templates/a.yaml',
      'kind: A2',
      '',
    ].join('\n');
    assert.deepEqual(Object.fromEntries(splitBySource(out)), {
      'a.yaml': ['kind: A\n', 'kind: A2\n'],
      'b/x.yaml': ['kind: B\n'],
    });
  });
});

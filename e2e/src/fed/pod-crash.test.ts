import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CHART } from './chart.js';
import { binary, repoRoot, versions } from './paths.js';
import { CRASH_DIR, hasRun, injectedCrash, podEnvValues, rolloutValues } from './pod-crash.js';

interface Workload {
  kind: string;
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        containers: {
          env: { name: string; value?: string }[];
          volumeMounts: { name: string; mountPath: string }[];
        }[];
        volumes: { name: string; emptyDir?: object }[];
      };
    };
  };
}

/** `helm template` of the chart with the values, the workload of the component. */
function rendered(mode: 'karmada' | 'host', values: string[]): Workload {
  const out = execFileSync(
    binary('helm'),
    ['template', 'x', CHART, '--kube-version', versions.kube, '--set', `installMode=${mode}`, ...values],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  const docs = parseAllDocuments(out).map((d) => d.toJS() as Workload | null);
  return docs.find((d) => d?.kind === (mode === 'host' ? 'Deployment' : 'DaemonSet'))!;
}

describe('podEnvValues: a test environment for the chart pods', () => {
  it('gives none when there is none, so the chart defaults take an earlier one away', () => {
    assert.deepEqual(podEnvValues('hub', {}), []);
    assert.deepEqual(podEnvValues('agent', { X: undefined }), []);
  });

  for (const [component, mode] of [
    ['hub', 'host'],
    ['agent', 'karmada'],
  ] as const)
    it(`${component}: the environment, the crash marker on an emptyDir, accepted by the chart's schema`, () => {
      const spec = rendered(mode, podEnvValues(component, { STATEFUL_MIGRATION_CRASH_AFTER: 'Restored' }))
        .spec.template.spec;
      const c = spec.containers[0]!;
      assert.deepEqual(c.env.slice(-2), [
        { name: 'STATEFUL_MIGRATION_CRASH_AFTER', value: 'Restored' },
        { name: 'STATEFUL_MIGRATION_CRASH_MARKER', value: `${CRASH_DIR}/crashed` },
      ]);
      const mount = c.volumeMounts.find((m) => m.mountPath === CRASH_DIR);
      assert.ok(mount, 'the marker directory is mounted');
      assert.deepEqual(
        spec.volumes.find((v) => v.name === mount.name),
        { name: mount.name, emptyDir: {} },
        'on an emptyDir: it lasts as long as the pod, not the container',
      );
    });
});

describe('rolloutValues', () => {
  for (const [component, mode] of [
    ['hub', 'host'],
    ['agent', 'karmada'],
  ] as const)
    it(`${component}: the annotation kubectl rollout restart sets, so the pod is replaced even with the same environment`, () => {
      const t = rendered(mode, rolloutValues(component, new Date(0))).spec.template;
      assert.equal(t.metadata.annotations?.['kubectl.kubernetes.io/restartedAt'], '1970-01-01T00:00:00.000Z');
    });
});

describe('injectedCrash and hasRun: a pod container as kubectl shows it', () => {
  it('running: not crashed, has run', () => {
    const s = { restartCount: 0, state: { running: { startedAt: 'x' } } };
    assert.equal(injectedCrash(s), false);
    assert.equal(hasRun(s), true);
    assert.equal(hasRun({ restartCount: 0, state: {} }), false);
    assert.equal(injectedCrash(undefined), false);
  });
  it('exited 99, now or before the restart the kubelet waits for: crashed', () => {
    assert.equal(injectedCrash({ state: { terminated: { exitCode: 99 } } }), true);
    const looping = { restartCount: 1, state: {}, lastState: { terminated: { exitCode: 99 } } };
    assert.equal(injectedCrash(looping), true);
    assert.equal(hasRun(looping), true);
  });
  it('another exit code is another failure, named', () => {
    assert.throws(
      () => injectedCrash({ lastState: { terminated: { exitCode: 1 } } }),
      /exited 1, not the injected crash's 99/,
    );
  });
});

import type {
  BuiltImage,
  CheckpointBackup,
  CheckpointRestore,
  CheckpointedPod,
  WorkloadMigration,
} from '@stateful-migration/api';
import type { BackupCluster } from './source.js';
import type { ClusterView } from './validate.js';

export const REG = 'reg.example:5000';
export const DIGEST_APP = `sha256:${'a'.repeat(64)}`;
export const DIGEST_SIDE = `sha256:${'b'.repeat(64)}`;

export function restore(spec: Partial<CheckpointRestore['spec']> = {}): CheckpointRestore {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointRestore',
    metadata: { name: 'r1', namespace: 'shop', generation: 1 },
    spec: { backupRef: { name: 'web-now' }, targetCluster: 'member2', ...spec },
  };
}

export function backup(spec: Partial<CheckpointBackup['spec']> = {}): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'web-now', namespace: 'shop' },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'web-1' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      registry: { url: REG, repository: 'cp', secretRef: { name: 'creds' } },
      ...spec,
    },
  };
}

export const pod = (): CheckpointedPod => ({
  name: 'web-1',
  namespace: 'shop',
  uid: 'u1',
  node: 'm1-a',
  labels: { app: 'web', 'pod-template-hash': 'abc' },
  containers: [
    {
      name: 'app',
      image: 'registry.local/app:1',
      ports: [{ containerPort: 8080 }],
      env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }],
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
      securityContext: { runAsUser: 1000 },
    },
    { name: 'side', image: 'registry.local/side:1' },
  ],
  volumes: [{ name: 'data', emptyDir: {} }],
});

export const img = (c: string, tag: string, over: Partial<BuiltImage> = {}): BuiltImage => ({
  containerName: c,
  imageName: `${REG}/cp/checkpoint-web-1-${c}:${tag}`,
  digest: c === 'app' ? DIGEST_APP : DIGEST_SIDE,
  buildTime: `2026-11-27T08:00:0${tag.slice(-1)}Z`,
  pushed: true,
  ...over,
});

export const source = (over: Partial<BackupCluster> = {}): BackupCluster => ({
  name: 'member1',
  phase: 'Completed',
  lastCheckpointTime: '2026-11-27T08:00:00Z',
  builtImages: [img('app', 't1'), img('side', 't1')],
  checkpointedPod: pod(),
  ...over,
});

export const clusters = (over: Partial<Record<string, Partial<ClusterView>>> = {}): ClusterView[] =>
  ['member1', 'member2'].map((name) => ({
    name,
    labels: { region: name === 'member1' ? 'eu' : 'us' },
    ready: true,
    ...over[name],
  }));

/** status.workload of a migration of StatefulSet db from member1 to member2 (restore `move`). */
export const dbMigration = (over: Partial<WorkloadMigration> = {}): WorkloadMigration => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  name: 'db',
  sourceCluster: 'member1',
  targetCluster: 'member2',
  replicas: 2,
  policy: 'checkpointrestore-move',
  into: 'member2',
  from: 'member1',
  ...over,
});

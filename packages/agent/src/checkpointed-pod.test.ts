import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkpointedPod, type PodSpecView } from './checkpointed-pod.js';

const pod = (): PodSpecView => ({
  metadata: { name: 'web-1', namespace: 'shop', uid: 'u-1', labels: { app: 'web' } },
  spec: {
    nodeName: 'm1-a',
    serviceAccountName: 'web-sa',
    containers: [
      {
        name: 'app',
        image: 'registry.local/app:1',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [
          { name: 'MODE', value: 'prod' },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } } },
        ],
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/app' }],
        securityContext: { runAsUser: 1000 },
        resources: { limits: { cpu: '1' } },
      },
      { name: 'side', image: 'registry.local/side:1' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
  },
});

it("records each checkpointed container's original image, ports, env (names and references), mounts and securityContext, and the pod's volumes", () => {
  assert.deepEqual(checkpointedPod(pod()), {
    name: 'web-1',
    namespace: 'shop',
    uid: 'u-1',
    node: 'm1-a',
    labels: { app: 'web' },
    serviceAccountName: 'web-sa',
    containers: [
      {
        name: 'app',
        image: 'registry.local/app:1',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [
          { name: 'MODE' },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } } },
        ],
        volumeMounts: [{ name: 'data', mountPath: '/var/lib/app' }],
        securityContext: { runAsUser: 1000 },
      },
      { name: 'side', image: 'registry.local/side:1' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
  });
});

it('never copies a literal env value into status: status travels to the hub and into Karmada bindings (issue 11)', () => {
  const p = pod();
  p.spec.containers[0]!.env = [
    { name: 'DB_PASSWORD', value: 's3cret' },
    { name: 'EMPTY', value: '' },
    { name: 'FROM_FIELD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'ODD', value: 'x', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } },
  ];
  const rec = checkpointedPod(p);
  assert.deepEqual(rec.containers[0]!.env, [
    { name: 'DB_PASSWORD' },
    { name: 'EMPTY' },
    { name: 'FROM_FIELD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'ODD', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } },
  ]);
  assert.ok(!JSON.stringify(rec).includes('s3cret'));
});

it('keeps every container of the pod, so a restore can tell which one lacks an image', () => {
  assert.deepEqual(
    checkpointedPod(pod()).containers.map((c) => c.name),
    ['app', 'side'],
  );
});

it('copies, so later changes to the pod object do not leak into the record', () => {
  const p = pod();
  const rec = checkpointedPod(p);
  (
    p.spec.containers[0]!.env as { valueFrom?: { secretKeyRef: { key: string } } }[]
  )[1]!.valueFrom!.secretKeyRef.key = 'changed';
  p.metadata.labels!.app = 'changed';
  assert.deepEqual(rec.containers[0]!.env![1], {
    name: 'TOKEN',
    valueFrom: { secretKeyRef: { name: 'app-secret', key: 'token' } },
  });
  assert.equal(rec.labels!.app, 'web');
});

it('leaves out what the pod does not have', () => {
  const rec = checkpointedPod({
    metadata: { name: 'p', namespace: 'n' },
    spec: { containers: [{ name: 'a', image: 'a:1' }] },
  });
  assert.deepEqual(rec, { name: 'p', namespace: 'n', containers: [{ name: 'a', image: 'a:1' }] });
});

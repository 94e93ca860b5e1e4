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

it("records each checkpointed container's original image, ports, env, mounts and securityContext, and the pod's volumes", () => {
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
          { name: 'MODE', value: 'prod' },
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

it('keeps every container of the pod, so a restore can tell which one lacks an image', () => {
  assert.deepEqual(
    checkpointedPod(pod()).containers.map((c) => c.name),
    ['app', 'side'],
  );
});

it('copies, so later changes to the pod object do not leak into the record', () => {
  const p = pod();
  const rec = checkpointedPod(p);
  (p.spec.containers[0]!.env as { value?: string }[])[0]!.value = 'changed';
  p.metadata.labels!.app = 'changed';
  assert.equal((rec.containers[0]!.env![0] as { value: string }).value, 'prod');
  assert.equal(rec.labels!.app, 'web');
});

it('leaves out what the pod does not have', () => {
  const rec = checkpointedPod({
    metadata: { name: 'p', namespace: 'n' },
    spec: { containers: [{ name: 'a', image: 'a:1' }] },
  });
  assert.deepEqual(rec, { name: 'p', namespace: 'n', containers: [{ name: 'a', image: 'a:1' }] });
});

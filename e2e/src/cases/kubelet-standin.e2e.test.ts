import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readArchiveInfo } from '@stateful-migration/archive';
import { kubectl } from '../fed/kubectl.js';
import { binary, fedDir } from '../fed/paths.js';
import { readState } from '../fed/procs.js';
import { standinAnnotations } from '../node/kubelet.js';
import { eventually, unique } from './support.js';

const ns = unique('kubelet');
const ca = readFileSync(join(fedDir, 'pki/ca.crt'));
const port = (node: string): number => readState()!.ports[`kubelet-${node}`]!;

function post(
  node: string,
  path: string,
  token?: string,
  method = 'POST',
  /** With the federation's admin client certificate, as the apiserver calls the kubelet (system:masters). */
  clientCert = false,
): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port: port(node),
        path,
        method,
        ca,
        ...(clientCert
          ? {
              cert: readFileSync(join(fedDir, 'pki/admin.crt')),
              key: readFileSync(join(fedDir, 'pki/admin.key')),
            }
          : {}),
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const token = async (sa: string): Promise<string> =>
  (await kubectl('member1', ['create', 'token', sa, '-n', ns])).trim();

const pod = (name: string, node: string, annotations: Record<string, string> = {}) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  annotations: ${JSON.stringify(annotations)}
spec:
  nodeName: ${node}
  containers:
  - {name: app, image: registry.local/app:1}
  - {name: sidecar, image: registry.local/sidecar:1, env: [{name: HOLD_MIB, value: '2'}]}
`;

describe('the node stand-in kubelet checkpoint endpoint', () => {
  let allowed = '';
  let denied = '';

  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: checkpointer, namespace: ${ns}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody, namespace: ${ns}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ${ns}-checkpoint}
rules: [{apiGroups: [''], resources: [nodes/checkpoint], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ${ns}-checkpoint}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${ns}-checkpoint}
subjects: [{kind: ServiceAccount, name: checkpointer, namespace: ${ns}}]
---
${pod('p', 'm1-a')}---
${pod('slow', 'm1-a', { [standinAnnotations.latencyMs]: '1500' })}---
${pod('elsewhere', 'm1-b')}`,
    );
    allowed = await token('checkpointer');
    denied = await token('nobody');
    // Both containers of each pod running (a container not yet started cannot be checkpointed, as on a real node).
    await eventually(
      async () => {
        const ready = await kubectl('member1', [
          'get',
          'pods',
          '-n',
          ns,
          '-o',
          'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready.split(' ').length === 3 && !ready.includes('False') ? true : undefined;
      },
      60_000,
      'the pods running on their nodes',
    );
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await kubectl('member1', ['delete', 'clusterrole,clusterrolebinding', `${ns}-checkpoint`]).catch(
      () => undefined,
    );
  });

  it('checkpoints with a token allowed to create nodes/checkpoint: 200, one path, a 0600 CRI-O archive in a 0700 directory', async () => {
    const r = await post('m1-a', `/checkpoint/${ns}/p/sidecar?timeout=30`, allowed);
    assert.equal(r.code, 200, r.body);
    const items = (JSON.parse(r.body) as { items: string[] }).items;
    assert.equal(items.length, 1);
    const path = items[0]!;
    assert.match(
      path,
      new RegExp(
        `/checkpoints/checkpoint-p_${ns}-sidecar-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)\\.tar$`,
      ),
    );
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
    const info = await readArchiveInfo(path);
    assert.deepEqual(
      [info.containerName, info.podName, info.namespace, info.rootfsImageName],
      ['sidecar', 'p', ns, 'registry.local/sidecar:1'],
    );
    // The container holds 2 MiB of touched memory (HOLD_MIB): CRIU's pages are in the archive.
    assert.ok(statSync(path).size > 2 * 1048576, `archive of ${statSync(path).size} bytes`);
    // checkpointctl, the tool users inspect archives with, reads it as a CRI-O checkpoint of that container...
    const shown = execFileSync(binary('checkpointctl'), ['show', path], { encoding: 'utf8' });
    assert.match(
      shown,
      /^sidecar\s+registry\.local\/sidecar:1\s+\w+\s+runc\s+.*CRI-O\s+2\.\d MiB\s+[\d.]+ KiB$/m,
    );
    // ...and finds the real process tree in CRIU's images: the counter, its stdout and stderr conmon's pipes.
    const tree = execFileSync(binary('checkpointctl'), ['inspect', '--ps-tree', '--files', path], {
      encoding: 'utf8',
    });
    assert.match(tree, /\[1\]\s+counter/);
    assert.match(tree, /\[PIPE 1\]\s+pipe/);
  });

  it('answers 401 without a token or with a bad one', async () => {
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/app`), { code: 401, body: 'Unauthorized' });
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/app`, 'not-a-token'), {
      code: 401,
      body: 'Unauthorized',
    });
  });

  it('answers 403 naming the user when RBAC lacks nodes/checkpoint', async () => {
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/app`, denied), {
      code: 403,
      body: `Forbidden (user=system:serviceaccount:${ns}:nobody, verb=create, resource=nodes, subresource(s)=[checkpoint])`,
    });
  });

  it('answers 404 for a missing pod, a missing container, a pod on another node, and an unparsable timeout', async () => {
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/ghost/app`, allowed), {
      code: 404,
      body: 'pod does not exist',
    });
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/nope`, allowed), {
      code: 404,
      body: 'container nope does not exist',
    });
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/elsewhere/app`, allowed), {
      code: 404,
      body: 'pod does not exist',
    });
    assert.equal((await post('m1-a', `/checkpoint/${ns}/p/app?timeout=soon`, allowed)).code, 404);
  });

  it('answers 500 for a negative timeout and, as CRI-O does, for a runtime whose checkpointing is off', async () => {
    const neg = await post('m1-a', `/checkpoint/${ns}/p/app?timeout=-1`, allowed);
    assert.equal(neg.code, 500);
    const dropIn = join(fedDir, 'nodes/m1-a/etc/crio/crio.conf.d/10-checkpoint-restore.conf');
    const saved = readFileSync(dropIn, 'utf8');
    writeFileSync(dropIn, '[crio.checkpoint_restore]\ncontainer_level_enabled = "none"\n');
    try {
      assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/app`, allowed), {
        code: 500,
        body: `checkpointing of ${ns}/p/app failed (rpc error: code = Unknown desc = checkpoint/restore support not available)`,
      });
    } finally {
      writeFileSync(dropIn, saved);
    }
  });

  it('serves containerLogs (nodes/proxy) for kubectl logs: the counter as it runs', async () => {
    // The counter prints a line a second: wait for its second, then --tail=2 gives exactly two.
    const logs = await eventually(
      async () => {
        const out = await kubectl('member1', ['logs', '-n', ns, 'p', '-c', 'app', '--tail=2']);
        return out.split('\n').length > 2 ? out : undefined;
      },
      20_000,
      'two counts',
    );
    assert.match(logs, /^count \d+\ncount \d+\n$/);
    const admin = (path: string) => post('m1-a', path, undefined, 'GET', true);
    assert.deepEqual(await admin(`/containerLogs/${ns}/ghost/app`), {
      code: 404,
      body: 'pod "ghost" does not exist',
    });
    assert.deepEqual(await admin(`/containerLogs/${ns}/p/nope`), {
      code: 404,
      body: 'container "nope" not found in pod "p"',
    });
    assert.match((await admin(`/containerLogs/${ns}/p/app?tailLines=1`)).body, /^count \d+\n$/);
    const get = await post('m1-a', `/containerLogs/${ns}/p/app`, allowed, 'GET');
    assert.equal(get.code, 403, 'nodes/checkpoint does not grant nodes/proxy');
    assert.match(get.body, /verb=get, resource=nodes, subresource\(s\)=\[proxy\]/);
  });

  it('times out like the runtime when the checkpoint takes longer than ?timeout', async () => {
    const r = await post('m1-a', `/checkpoint/${ns}/slow/sidecar?timeout=1`, allowed);
    assert.equal(r.code, 500);
    assert.match(r.body, /code = DeadlineExceeded/);
  });

  it('refuses a second concurrent checkpoint of one container, as the runtime does', async () => {
    const [a, b] = await Promise.all([
      post('m1-a', `/checkpoint/${ns}/slow/app`, allowed),
      new Promise((r) => setTimeout(r, 200)).then(() => post('m1-a', `/checkpoint/${ns}/slow/app`, allowed)),
    ]);
    assert.equal(a.code, 200);
    assert.equal(b.code, 500);
    assert.match(b.body, /already being checkpointed/);
  });

  it('authorizes the verb of the method, as the kubelet does before routing: GET needs get nodes/checkpoint', async () => {
    assert.deepEqual(await post('m1-a', `/checkpoint/${ns}/p/app`, allowed, 'GET'), {
      code: 403,
      body: `Forbidden (user=system:serviceaccount:${ns}:checkpointer, verb=get, resource=nodes, subresource(s)=[checkpoint])`,
    });
  });
});

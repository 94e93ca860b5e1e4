// suite: shares — own namespaces, pods and ClusterRole; the agent DaemonSet pod it lets onto m1-b cannot start
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readArchiveInfo } from '@stateful-migration/archive';
import { kubectl } from '../fed/kubectl.js';
import { binary, fedDir, onMachine } from '../fed/paths.js';
import { chartPodNodes } from '../fed/chart-pods.js';
import { standinAnnotations } from '../node/kubelet.js';
import {
  checkpointerYaml,
  kubeletAddress as address,
  kubeletCall as post,
  saToken,
} from './kubelet-support.js';
import { eventsOf, eventually, field, printed, unique } from './support.js';

const ns = unique('kubelet');
const token = (sa: string): Promise<string> => saToken(ns, sa);

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
      `${checkpointerYaml(ns)}---
apiVersion: v1
kind: ServiceAccount
metadata: {name: nobody, namespace: ${ns}}
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
    // The node's path, as a kubelet with the default root answers; the file is under the node's root here.
    assert.match(
      items[0]!,
      new RegExp(
        `^/var/lib/kubelet/checkpoints/checkpoint-p_${ns}-sidecar-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(Z|[+-]\\d\\d:\\d\\d)\\.tar$`,
      ),
    );
    const path = onMachine('m1-a', items[0]!);
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

  // (A runtime whose checkpointing is off answers 500 too: runtime-checkpointing-off, which runs alone.)
  it('answers 500 for a negative timeout', async () => {
    const neg = await post('m1-a', `/checkpoint/${ns}/p/app?timeout=-1`, allowed);
    assert.equal(neg.code, 500);
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

async function podJson(
  ns: string,
  name: string,
): Promise<{
  status?: {
    phase?: string;
    containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[];
  };
}> {
  return JSON.parse(await kubectl('member1', ['get', 'pod', '-n', ns, name, '-o', 'json'])) as never;
}

describe('the node stand-in gives pods what the kubelet gives them: volumes, env, security context', () => {
  const ns = unique('podcfg');
  const hostDir = `/var/lib/${ns}`;

  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: ${ns}}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ${ns}}
stringData: {password: hunter2, user: admin}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${ns}}
data: {LEVEL: debug, extra: x}
`,
    );
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('mounts secret, configMap, downwardAPI, hostPath, emptyDir and the default token volume; resolves env; runs as the security context says', async () => {
    // The kubelet expands $(NAME) of a defined variable in command and args, and $$ to $: the script avoids both
    // except where it means them (its arg, $(POD_NAME)).
    const script = [
      'echo "arg0=$0"',
      'echo "ids=$(id -u):$(id -g):$(id -G)"',
      'grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status | tr -d "\\t" | sed "s/:/=/"',
      'touch /rootfs-write 2>/dev/null && echo "rootfs=rw" || echo "rootfs=ro"',
      'echo "secret=$(ls /s | tr "\\n" " ")"',
      'echo "secretmode=$(stat -L -c %a:%g /s/password)"',
      'echo "secretsum=$(md5sum < /s/password | cut -c1-8)"',
      'echo "cm=$(cat /c/conf/level)"',
      'echo "cmfiles=$(ls /c | tr "\\n" " ")"',
      'echo "down=$(cat /d/name)/$(cat /d/ns)"',
      'echo "sa_ns=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"',
      'echo "sa_ca=$(head -1 /var/run/secrets/kubernetes.io/serviceaccount/ca.crt)"',
      'echo "sa_token=$(cut -d. -f2 /var/run/secrets/kubernetes.io/serviceaccount/token)"',
      'echo "emptydir=$(stat -c %a:%g /e)"',
      'echo "hostpath=$(stat -c %a:%u /h)"',
      '(echo x > /h/written) 2>/dev/null && echo "hostwrite=yes" || echo "hostwrite=denied"',
      'env | grep -E "^(NODE_NAME|NODE_IP|POD_IP|POD_NAME|POD_NS|SA|POD_UID|CM_LEVEL|IDENT|OPT|KUBERNETES_SERVICE_PORT)="',
      'echo "pwsum=$(echo -n "$PW" | md5sum | cut -c1-8)"',
      'echo done',
      'sleep 3600',
    ].join('; ');
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'vols', namespace: ns },
        spec: {
          nodeName: 'm1-a',
          serviceAccountName: 'runner',
          securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000] },
          containers: [
            {
              name: 'show',
              image: 'busybox',
              command: ['sh', '-c', script],
              args: ['$(POD_NAME)'],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
                { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
                { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
                { name: 'PW', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
                { name: 'OPT', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
                { name: 'IDENT', value: '--identity=$(POD_NAME)' },
              ],
              envFrom: [{ prefix: 'CM_', configMapRef: { name: 'settings' } }],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
              },
              volumeMounts: [
                { name: 's', mountPath: '/s', readOnly: true },
                { name: 'c', mountPath: '/c', readOnly: true },
                { name: 'd', mountPath: '/d', readOnly: true },
                { name: 'h', mountPath: '/h' },
                { name: 'e', mountPath: '/e' },
              ],
            },
          ],
          volumes: [
            { name: 's', secret: { secretName: 'creds', defaultMode: 0o400 } },
            { name: 'c', configMap: { name: 'settings', items: [{ key: 'LEVEL', path: 'conf/level' }] } },
            {
              name: 'd',
              downwardAPI: {
                items: [
                  { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                  { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } },
                ],
              },
            },
            { name: 'h', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
            { name: 'e', emptyDir: {} },
          ],
        },
      }),
    );
    const out = await printed(ns, 'vols');
    const pod = JSON.parse(await kubectl('member1', ['get', 'pod', '-n', ns, 'vols', '-o', 'json'])) as {
      metadata: { uid: string };
      spec: { volumes: { name: string }[] };
      status: { podIP: string };
    };
    // The apiserver's ServiceAccount admission added the token volume; the stand-in filled it.
    assert.ok(pod.spec.volumes.some((v) => v.name.startsWith('kube-api-access-')));
    assert.equal(field(out, 'arg0'), 'vols', '$(POD_NAME) in args');
    // runAsUser/runAsGroup from the pod; fsGroup and supplementalGroups as supplementary groups.
    assert.equal(field(out, 'ids'), '1000:3000:3000 2000 4000');
    // drop ALL, add NET_BIND_SERVICE (bit 10); a non-root process holds no effective capabilities.
    assert.equal(field(out, 'CapBnd'), '0000000000000400');
    assert.equal(field(out, 'CapEff'), '0000000000000000');
    assert.equal(field(out, 'NoNewPrivs'), '1');
    assert.equal(field(out, 'rootfs'), 'ro');
    assert.equal(field(out, 'secret'), 'password user ');
    // defaultMode 0400, made group-readable for fsGroup 2000 as the kubelet's SetVolumeOwnership does.
    assert.equal(field(out, 'secretmode'), '440:2000');
    assert.equal(field(out, 'secretsum'), createHash('md5').update('hunter2').digest('hex').slice(0, 8));
    assert.equal(field(out, 'cm'), 'debug');
    assert.equal(field(out, 'cmfiles'), 'conf ');
    assert.equal(field(out, 'down'), `vols/${ns}`);
    assert.equal(field(out, 'sa_ns'), ns);
    assert.equal(field(out, 'sa_ca'), '-----BEGIN CERTIFICATE-----');
    const claims = JSON.parse(Buffer.from(field(out, 'sa_token') ?? '', 'base64url').toString()) as {
      sub: string;
      'kubernetes.io': { pod: { name: string; uid: string } };
    };
    assert.equal(claims.sub, `system:serviceaccount:${ns}:runner`);
    assert.deepEqual(claims['kubernetes.io'].pod, { name: 'vols', uid: pod.metadata.uid });
    assert.equal(field(out, 'emptydir'), '2777:2000');
    // DirectoryOrCreate made it on the node, 0755 root's as the kubelet does: user 1000 may not write there.
    assert.equal(field(out, 'hostpath'), '755:0');
    assert.equal(field(out, 'hostwrite'), 'denied');
    assert.equal(statSync(join(fedDir, 'nodes/m1-a', hostDir)).mode & 0o777, 0o755);
    assert.deepEqual(
      [
        'NODE_NAME',
        'NODE_IP',
        'POD_IP',
        'POD_NAME',
        'POD_NS',
        'SA',
        'POD_UID',
        'CM_LEVEL',
        'IDENT',
        'OPT',
      ].map((k) => field(out, k)),
      [
        'm1-a',
        address('m1-a'),
        pod.status.podIP,
        'vols',
        ns,
        'runner',
        pod.metadata.uid,
        'debug',
        '--identity=vols',
        // optional, its secret missing: not set at all
        undefined,
      ],
    );
    assert.equal(field(out, 'KUBERNETES_SERVICE_PORT'), '443');
    assert.equal(field(out, 'pwsum'), createHash('md5').update('hunter2').digest('hex').slice(0, 8));
  });

  it('keeps a pod ContainerCreating with FailedMount while its secret is missing or a hostPath has the wrong type, then starts it', async () => {
    const pod = (name: string, volume: object) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns },
        spec: {
          nodeName: 'm1-a',
          containers: [
            {
              name: 'c',
              image: 'busybox',
              command: ['sh', '-c', 'echo done; sleep 3600'],
              volumeMounts: [{ name: 'v', mountPath: '/v' }],
            },
          ],
          volumes: [{ name: 'v', ...volume }],
        },
      });
    await kubectl('member1', ['apply', '-f', '-'], pod('nosecret', { secret: { secretName: 'later' } }));
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      pod('nodir', { hostPath: { path: '/etc/absent-dir', type: 'Directory' } }),
    );
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      pod('notfile', { hostPath: { path: '/etc', type: 'File' } }),
    );
    for (const [name, message] of [
      ['nosecret', 'MountVolume.SetUp failed for volume "v" : secret "later" not found'],
      [
        'nodir',
        'MountVolume.SetUp failed for volume "v" : hostPath type check failed: /etc/absent-dir is not a directory',
      ],
      ['notfile', 'MountVolume.SetUp failed for volume "v" : hostPath type check failed: /etc is not a file'],
    ] as const) {
      const e = await eventually(
        async () => (await eventsOf('member1', ns, name)).find((x) => x.reason === 'FailedMount'),
        30_000,
        `FailedMount of ${name}`,
      );
      assert.deepEqual(
        [e.type, e.message, e.source],
        ['Warning', message, { component: 'kubelet', host: 'm1-a' }],
      );
      const p = await podJson(ns, name);
      assert.equal(p.status?.phase, 'Pending');
      assert.equal(p.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ContainerCreating');
    }
    await kubectl('member1', ['create', 'secret', 'generic', 'later', '-n', ns, '--from-literal=k=v']);
    await printed(ns, 'nosecret');
    assert.equal((await podJson(ns, 'nosecret')).status?.phase, 'Running');
  });

  it('refuses to create a container whose env names a missing secret or that runAsNonRoot would run as root: CreateContainerConfigError', async () => {
    const pod = (name: string, extra: object) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns },
        spec: {
          nodeName: 'm1-a',
          containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'], ...extra }],
        },
      });
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      pod('noenv', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }),
    );
    await kubectl('member1', ['apply', '-f', '-'], pod('root', { securityContext: { runAsNonRoot: true } }));
    const waiting = (name: string) =>
      eventually(
        async () => {
          const w = (await podJson(ns, name)).status?.containerStatuses?.[0]?.state?.waiting;
          return w?.reason === 'CreateContainerConfigError' ? w : undefined;
        },
        30_000,
        `${name} CreateContainerConfigError`,
      );
    assert.equal((await waiting('noenv')).message, 'secret "nope" not found');
    const uid = (
      await kubectl('member1', ['get', 'pod', '-n', ns, 'root', '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    assert.equal(
      (await waiting('root')).message,
      `container has runAsNonRoot and image will run as root (pod: "root_${ns}(${uid})", container: c)`,
    );
  });

  it('runs a privileged container with every capability and nothing masked, as the agent DaemonSet asks', async () => {
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'priv', namespace: ns },
        spec: {
          nodeName: 'm1-a',
          containers: [
            {
              name: 'c',
              image: 'busybox',
              command: [
                'sh',
                '-c',
                'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status | tr -d "\\t" | sed "s/:/=/"; echo "kcore=$(stat -c %s /proc/kcore)"; echo "null=$(ls /dev/null >/dev/null 2>&1 && echo yes)"; echo done; sleep 3600',
              ],
              securityContext: { runAsUser: 0, privileged: true, capabilities: { add: ['SYS_ADMIN'] } },
            },
          ],
        },
      }),
    );
    const out = await printed(ns, 'priv');
    // Every capability the runtime itself holds (this machine's bounding set, which the test process shares).
    const held = /^CapBnd:\s*(\w+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    assert.equal(field(out, 'CapEff'), held);
    assert.equal(field(out, 'NoNewPrivs'), '0');
    // Not masked: /proc/kcore is the real one (a huge size), not /dev/null bound over it.
    assert.notEqual(field(out, 'kcore'), '0');
  });
});

describe('the node stand-in probes containers as the kubelet does', () => {
  const ns = unique('probes');
  // The pod serves files from a hostPath the test writes directly on the node.
  const www = join(fedDir, 'nodes/m1-a/var/lib', ns);
  const podStatus = async () =>
    JSON.parse(await kubectl('member1', ['get', 'pod', '-n', ns, 'web', '-o', 'json'])) as {
      status: {
        conditions?: { type: string; status: string }[];
        containerStatuses?: { name: string; ready: boolean; restartCount: number }[];
      };
    };
  const until = (what: string, ok: (s: Awaited<ReturnType<typeof podStatus>>['status']) => boolean) =>
    eventually(async () => (ok((await podStatus()).status) ? true : undefined), 60_000, what);
  const podReady = (s: Awaited<ReturnType<typeof podStatus>>['status']) =>
    s.conditions?.find((c) => c.type === 'Ready')?.status;
  const container = (s: Awaited<ReturnType<typeof podStatus>>['status'], name: string) =>
    s.containerStatuses?.find((c) => c.name === name);

  const eventOf = (reason: string, prefix: string) =>
    eventually(
      async () =>
        (await eventsOf('member1', ns, 'web')).find(
          (x) => x.reason === reason && x.message.startsWith(prefix),
        ),
      30_000,
      `a ${reason} Event "${prefix}..."`,
    );

  before(async () => {
    mkdirSync(www, { recursive: true });
    for (const f of ['healthz', 'ready', 'side']) writeFileSync(join(www, f), 'ok\n');
    await kubectl('member1', ['create', 'namespace', ns]);
    const mount = { volumeMounts: [{ name: 'www', mountPath: '/www' }] };
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: ns },
        spec: {
          nodeName: 'm1-a',
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'web',
              image: 'busybox',
              command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
              ports: [{ name: 'web', containerPort: 8080 }],
              readinessProbe: {
                httpGet: { path: '/ready', port: 'web' },
                periodSeconds: 1,
                failureThreshold: 1,
              },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 8080 },
                periodSeconds: 1,
                failureThreshold: 2,
              },
              ...mount,
            },
            {
              name: 'side',
              image: 'busybox',
              command: ['httpd', '-f', '-p', '7000', '-h', '/tmp'],
              readinessProbe: {
                exec: { command: ['cat', '/www/side'] },
                periodSeconds: 1,
                failureThreshold: 1,
              },
              livenessProbe: { tcpSocket: { port: 7000 }, periodSeconds: 1, failureThreshold: 1 },
              ...mount,
            },
          ],
          volumes: [{ name: 'www', hostPath: { path: `/var/lib/${ns}`, type: 'Directory' } }],
        },
      }),
    );
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    rmSync(www, { recursive: true, force: true });
  });

  it('readiness (httpGet on a named port, exec) drives the containers’ ready and the pod’s Ready; failures are Unhealthy Events', async () => {
    await until('the pod Ready', (s) => podReady(s) === 'True');
    rmSync(join(www, 'ready'));
    await until('web not ready', (s) => podReady(s) === 'False' && container(s, 'web')?.ready === false);
    const e = await eventOf('Unhealthy', 'Readiness');
    assert.equal(e.type, 'Warning');
    assert.equal(e.message, 'Readiness probe failed: HTTP probe failed with statuscode: 404');
    assert.equal(container((await podStatus()).status, 'side')?.ready, true);
    writeFileSync(join(www, 'ready'), 'ok\n');
    await until('the pod Ready again', (s) => podReady(s) === 'True');
    rmSync(join(www, 'side'));
    await until('side not ready', (s) => podReady(s) === 'False' && container(s, 'side')?.ready === false);
    const ex = await eventOf('Unhealthy', 'Readiness probe failed: cat');
    assert.match(
      ex.message,
      /^Readiness probe failed: cat: can't open '\/www\/side': No such file or directory$/,
    );
    writeFileSync(join(www, 'side'), 'ok\n');
    await until('the pod Ready again', (s) => podReady(s) === 'True');
  });

  it('liveness failing failureThreshold times kills the container, with Killing; it restarts and is Ready again', async () => {
    rmSync(join(www, 'healthz'));
    const killing = await eventOf('Killing', '');
    assert.deepEqual(
      [killing.type, killing.message],
      ['Normal', 'Container web failed liveness probe, will be restarted'],
    );
    const unhealthy = await eventOf('Unhealthy', 'Liveness');
    assert.equal(unhealthy.message, 'Liveness probe failed: HTTP probe failed with statuscode: 404');
    writeFileSync(join(www, 'healthz'), 'ok\n');
    await until(
      'web restarted once and Ready',
      (s) => container(s, 'web')?.restartCount === 1 && podReady(s) === 'True',
    );
    // The tcpSocket liveness probe of side found its port open all along.
    assert.equal(container((await podStatus()).status, 'side')?.restartCount, 0);
  });
});

describe("the chart's agent DaemonSet on a stand-in node (issue 15)", () => {
  const label = 'stateful-migration.dcnlab.com/agent-pods';
  // On a federation brought up with `--chart-pods m1-b`, the pod there is that node's agent, from the image the
  // federation pushed (chart-pods.e2e.test.ts checks it): it is left running. Otherwise the chart's default image is
  // one no node can pull, and the pod stops at the pull.
  const fedsAgent = chartPodNodes().includes('m1-b');
  after(async () => {
    if (!fedsAgent) await kubectl('member1', ['label', 'node', 'm1-b', `${label}-`]).catch(() => undefined);
  });

  it('gets every volume the chart mounts and a token of the chart’s ServiceAccount, then pulls its image', async () => {
    if (!fedsAgent) await kubectl('member1', ['label', 'node', 'm1-b', `${label}=true`, '--overwrite']);
    type DsPod = {
      metadata: { name: string; uid: string };
      spec: { nodeName?: string; volumes: { name: string }[] };
      status?: { containerStatuses?: { state?: { waiting?: { reason?: string }; running?: object } }[] };
    };
    const pod = await eventually(
      async () => {
        const items = (
          JSON.parse(await kubectl('member1', ['get', 'pods', '-n', 'stateful-migration', '-o', 'json'])) as {
            items: DsPod[];
          }
        ).items.filter((p) => p.spec.nodeName === 'm1-b');
        const state = items[0]?.status?.containerStatuses?.[0]?.state;
        const reason = state?.waiting?.reason;
        return (reason && reason !== 'ContainerCreating') || state?.running ? items[0] : undefined;
      },
      60_000,
      'the agent pod past its volumes',
    );
    // Past the volumes: the chart's hostPaths (Directory, File, DirectoryOrCreate) all passed the type check.
    const failed = (await eventsOf('member1', 'stateful-migration', pod.metadata.name)).filter(
      (e) => e.reason === 'FailedMount',
    );
    assert.deepEqual(failed, []);
    if (fedsAgent) assert.ok(pod.status?.containerStatuses?.[0]?.state?.running, 'the agent pod runs');
    else
      assert.match(
        pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? '',
        /^(ErrImagePull|ImagePullBackOff)$/,
      );
    const tokenVolume = pod.spec.volumes.find((v) => v.name.startsWith('kube-api-access-'))!.name;
    const token = readFileSync(
      join(
        fedDir,
        'nodes/m1-b/kubelet/pods',
        pod.metadata.uid,
        'volumes/kubernetes.io~projected',
        tokenVolume,
        'token',
      ),
      'utf8',
    );
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string };
    assert.equal(claims.sub, 'system:serviceaccount:stateful-migration:checkpoint-backup-sa');
  });
});

describe('the node stand-in gives each pod one network namespace, as its sandbox', () => {
  const ns = unique('sandbox');
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it("a pod's containers share localhost, and the pod's IP is on its loopback", async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'duo', namespace: ns },
        spec: {
          nodeName: 'm1-a',
          containers: [
            { name: 'server', image: 'busybox', command: ['httpd', '-f', '-p', '9090', '-h', '/'] },
            {
              name: 'client',
              image: 'busybox',
              command: [
                'sh',
                '-c',
                'until nc -w 1 127.0.0.1 9090 </dev/null; do sleep 1; done; echo "reached=yes"; echo "lo=$(ip -o -4 addr show lo | awk \'{print $4}\' | tr "\\n" " ")"; echo done; sleep 3600',
              ],
            },
          ],
        },
      }),
    );
    const out = await printed(ns, 'duo', 'client');
    const ip = (
      await kubectl('member1', ['get', 'pod', '-n', ns, 'duo', '-o', 'jsonpath={.status.podIP}'])
    ).trim();
    assert.equal(field(out, 'reached'), 'yes');
    // ...and, added by the pod's forwarder (ADR 0011 step 3), its node's address and the `kubernetes` ClusterIP.
    assert.deepEqual(
      field(out, 'lo')!.trim().split(' ').sort(),
      ['127.0.0.1/8', `${ip}/32`, `${address('m1-a')}/32`, '10.96.0.1/32'].sort(),
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALL_CAPABILITIES,
  capabilitiesOfMask,
  containerEnv,
  CRIO_DEFAULT_CAPABILITIES,
  envReferences,
  expandVars,
  fieldValue,
  hostPathCheck,
  hostPathOnNode,
  keyedData,
  keyedFiles,
  ociSpec,
  parseQuantity,
  processEnv,
  processSecurity,
  resourceValue,
  serviceEnv,
  type HostPathKind,
} from './decisions.js';

describe('hostPathCheck: the kubelet type check of a hostPath volume', () => {
  const kinds: HostPathKind[] = ['missing', 'directory', 'file', 'socket', 'char', 'block'];
  // type -> the kinds it accepts, and what it creates when missing
  const table: Record<string, { ok: HostPathKind[]; creates?: 'directory' | 'file'; not?: string }> = {
    '': { ok: ['directory', 'file', 'socket', 'char', 'block'], creates: 'directory' },
    DirectoryOrCreate: { ok: ['directory'], creates: 'directory', not: 'a directory' },
    Directory: { ok: ['directory'], not: 'a directory' },
    FileOrCreate: { ok: ['file'], creates: 'file', not: 'a file' },
    File: { ok: ['file'], not: 'a file' },
    Socket: { ok: ['socket'], not: 'a socket file' },
    CharDevice: { ok: ['char'], not: 'a character device' },
    BlockDevice: { ok: ['block'], not: 'a block device' },
  };
  for (const [type, want] of Object.entries(table))
    for (const k of kinds)
      it(`${type || '(unset)'} with ${k}`, () => {
        const got = hostPathCheck(type || undefined, '/etc/crio', k);
        if (k === 'missing' && want.creates) assert.deepEqual(got, { create: want.creates });
        else if (want.ok.includes(k)) assert.deepEqual(got, {});
        else assert.deepEqual(got, { error: `hostPath type check failed: /etc/crio is not ${want.not}` });
      });
  it('refuses an unknown type', () =>
    assert.deepEqual(hostPathCheck('Dir', '/x', 'directory'), {
      error: 'hostPath type check failed: unknown type Dir',
    }));
});

describe("hostPathOnNode: a hostPath inside the stand-in node's own root", () => {
  it("maps / paths under the node's root", () =>
    assert.equal(
      hostPathOnNode('/etc/containers', '/f/nodes/a/', '/f/nodes/a/kubelet'),
      '/f/nodes/a/etc/containers',
    ));
  it("maps /var/lib/kubelet to the kubelet's root directory", () => {
    assert.equal(hostPathOnNode('/var/lib/kubelet/checkpoints', '/n', '/k'), '/k/checkpoints');
    assert.equal(hostPathOnNode('/var/lib/kubelet', '/n', '/k'), '/k');
    assert.equal(hostPathOnNode('/var/lib/kubeletx', '/n', '/k'), '/n/var/lib/kubeletx');
  });
  it('never leaves the root by ..', () => {
    assert.equal(hostPathOnNode('/../../etc/shadow', '/n', '/k'), '/n/etc/shadow');
    assert.equal(hostPathOnNode('/', '/n', '/k'), '/n');
    assert.equal(hostPathOnNode('/a/./b//c/..', '/n', '/k'), '/n/a/b');
  });
});

describe('keyedData and keyedFiles: secret and configMap volumes', () => {
  const secret = keyedData('secret', { data: { a: Buffer.from('A').toString('base64'), b: 'Qg==' } });
  it('decodes a secret from base64, a configMap as text plus binaryData', () => {
    assert.deepEqual(secret, { a: Buffer.from('A'), b: Buffer.from('B') });
    assert.deepEqual(keyedData('configMap', { data: { t: 'x' }, binaryData: { bin: 'AAE=' } }), {
      t: Buffer.from('x'),
      bin: Buffer.from([0, 1]),
    });
    assert.equal(keyedData('secret', undefined), undefined);
  });
  it('writes every key at 0644 by default, or defaultMode', () => {
    assert.deepEqual(keyedFiles('secret', 's', secret, {}), {
      files: [
        { path: 'a', content: Buffer.from('A'), mode: 0o644 },
        { path: 'b', content: Buffer.from('B'), mode: 0o644 },
      ],
    });
    assert.deepEqual(
      (keyedFiles('secret', 's', secret, { defaultMode: 0o400 }) as { files: { mode: number }[] }).files.map(
        (f) => f.mode,
      ),
      [0o400, 0o400],
    );
  });
  it('writes only items, at their paths and modes', () =>
    assert.deepEqual(
      keyedFiles('secret', 's', secret, {
        items: [{ key: 'b', path: 'dir/bee', mode: 0o600 }],
        defaultMode: 0o444,
      }),
      { files: [{ path: 'dir/bee', content: Buffer.from('B'), mode: 0o600 }] },
    ));
  it("fails a missing object or item key with the kubelet's messages", () => {
    assert.deepEqual(keyedFiles('secret', 's', undefined, {}), { error: 'secret "s" not found' });
    assert.deepEqual(keyedFiles('configMap', 'c', undefined, {}), { error: 'configmap "c" not found' });
    assert.deepEqual(keyedFiles('secret', 's', secret, { items: [{ key: 'z', path: 'z' }] }), {
      error: 'references non-existent secret key: z',
    });
    assert.deepEqual(keyedFiles('configMap', 'c', {}, { items: [{ key: 'z', path: 'z' }] }), {
      error: 'configmap references non-existent config key: z',
    });
  });
  it('gives an empty volume, or skips the key, when optional', () => {
    assert.deepEqual(keyedFiles('secret', 's', undefined, { optional: true }), { files: [] });
    assert.deepEqual(
      keyedFiles('secret', 's', secret, { optional: true, items: [{ key: 'z', path: 'z' }] }),
      {
        files: [],
      },
    );
  });
});

describe('fieldValue: the downward API', () => {
  const pod = {
    metadata: { name: 'p', namespace: 'n', uid: 'u', labels: { b: '2', a: 'x"y' }, annotations: { k: 'v' } },
    spec: { nodeName: 'm1-a', serviceAccountName: 'sa' },
    status: {
      hostIP: '10.0.0.1',
      podIP: '10.1.0.2',
      podIPs: [{ ip: '10.1.0.2' }],
      hostIPs: [{ ip: '10.0.0.1' }],
    },
  };
  const cases: [string, string][] = [
    ['metadata.name', 'p'],
    ['metadata.namespace', 'n'],
    ['metadata.uid', 'u'],
    ["metadata.labels['b']", '2'],
    ["metadata.annotations['k']", 'v'],
    ["metadata.labels['none']", ''],
    ['spec.nodeName', 'm1-a'],
    ['spec.serviceAccountName', 'sa'],
    ['status.hostIP', '10.0.0.1'],
    ['status.podIP', '10.1.0.2'],
    ['status.podIPs', '10.1.0.2'],
    ['status.hostIPs', '10.0.0.1'],
  ];
  for (const [path, value] of cases)
    it(`env ${path}`, () => assert.deepEqual(fieldValue(pod, path, 'env'), { value }));
  it('writes labels and annotations as sorted k="v" lines in volumes only', () => {
    assert.deepEqual(fieldValue(pod, 'metadata.labels', 'volume'), { value: 'a="x\\"y"\nb="2"' });
    assert.deepEqual(fieldValue(pod, 'metadata.annotations', 'volume'), { value: 'k="v"' });
    assert.ok('error' in fieldValue(pod, 'metadata.labels', 'env'));
  });
  it('keeps spec and status fields out of volumes, and refuses unknown paths', () => {
    assert.ok('error' in fieldValue(pod, 'spec.nodeName', 'volume'));
    assert.ok('error' in fieldValue(pod, 'status.phase', 'env'));
    assert.deepEqual(fieldValue(pod, 'metadata.name', 'volume'), { value: 'p' });
  });
});

describe('parseQuantity and resourceValue: resourceFieldRef', () => {
  it('parses quantities', () => {
    assert.equal(parseQuantity('1500m'), 1.5);
    assert.equal(parseQuantity('1Gi'), 2 ** 30);
    assert.equal(parseQuantity('128M'), 128e6);
    assert.equal(parseQuantity('2'), 2);
    assert.equal(parseQuantity('1e3'), 1000);
    assert.equal(parseQuantity('x'), undefined);
  });
  const alloc = { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' };
  it('divides by the divisor and rounds up', () => {
    assert.deepEqual(
      resourceValue({ limits: { memory: '256Mi' } }, { resource: 'limits.memory', divisor: '1Mi' }, alloc),
      {
        value: '256',
      },
    );
    assert.deepEqual(resourceValue({ requests: { cpu: '250m' } }, { resource: 'requests.cpu' }, alloc), {
      value: '1',
    });
    assert.deepEqual(
      resourceValue({ requests: { cpu: '250m' } }, { resource: 'requests.cpu', divisor: '1m' }, alloc),
      {
        value: '250',
      },
    );
  });
  it("defaults a missing limit to the node's allocatable", () =>
    assert.deepEqual(resourceValue(undefined, { resource: 'limits.cpu' }, alloc), { value: '2' }));
  it('refuses other resources', () =>
    assert.ok('error' in resourceValue(undefined, { resource: 'limits.gpu' }, alloc)));
});

describe('expandVars: $(VAR) in env, command and args', () => {
  const vars = (n: string) => ({ A: 'a', POD_NAME: 'p-1' })[n];
  const cases: [string, string][] = [
    ['--identity=$(POD_NAME)', '--identity=p-1'],
    ['$(A)$(A)', 'aa'],
    ['$(UNDEFINED)', '$(UNDEFINED)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['cost $5', 'cost $5'],
    ['$(A', '$(A'],
    ['$()', '$()'],
    ['end$', 'end$'],
  ];
  for (const [input, want] of cases) it(input, () => assert.equal(expandVars(input, vars), want));
});

describe('containerEnv: the kubelet makes the environment', () => {
  const pod = {
    metadata: { name: 'p', namespace: 'n', uid: 'u' },
    spec: {
      nodeName: 'm1-a',
      serviceAccountName: 'sa',
      containers: [{ name: 'other', resources: { limits: { memory: '1Mi' } } }],
    },
    status: { hostIP: '127.0.0.1', podIP: '10.1.0.2' },
  };
  const objects = {
    secrets: {
      s: { password: Buffer.from('hunter2'), 'bad name': Buffer.from('x') } as Record<string, Buffer>,
    },
    configMaps: { c: { LEVEL: Buffer.from('debug') } as Record<string, Buffer>, none: undefined },
  };
  const alloc = { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' };
  const env = (c: Parameters<typeof containerEnv>[0], svc: Record<string, string> = {}) =>
    containerEnv(c, pod, objects, svc, alloc);
  it('resolves fieldRef, secretKeyRef, configMapKeyRef and resourceFieldRef', () =>
    assert.deepEqual(
      env({
        name: 'x',
        env: [
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
          { name: 'PW', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
          { name: 'LVL', valueFrom: { configMapKeyRef: { name: 'c', key: 'LEVEL' } } },
          {
            name: 'MEM',
            valueFrom: {
              resourceFieldRef: { containerName: 'other', resource: 'limits.memory', divisor: '1Ki' },
            },
          },
        ],
      }),
      {
        env: [
          ['NODE', 'm1-a'],
          ['IP', '127.0.0.1'],
          ['PW', 'hunter2'],
          ['LVL', 'debug'],
          ['MEM', '1024'],
        ],
        skipped: [],
      },
    ));
  it('puts service variables first, then envFrom with prefix (invalid names skipped), then env over them', () =>
    assert.deepEqual(
      env(
        {
          name: 'x',
          envFrom: [{ configMapRef: { name: 'c' } }, { prefix: 'S_', secretRef: { name: 's' } }],
          env: [
            { name: 'LEVEL', value: 'info' },
            { name: 'ID', value: '$(S_password)-$(KUBERNETES_SERVICE_HOST)-$(LATER)' },
            { name: 'LATER', value: 'l' },
          ],
        },
        { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
      ),
      {
        env: [
          ['KUBERNETES_SERVICE_HOST', '10.96.0.1'],
          ['LEVEL', 'info'],
          ['S_password', 'hunter2'],
          ['ID', 'hunter2-10.96.0.1-$(LATER)'],
          ['LATER', 'l'],
        ],
        skipped: ['S_bad name'],
      },
    ));
  it("fails a missing non-optional object or key with the kubelet's CreateContainerConfigError messages", () => {
    assert.deepEqual(
      env({ name: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] }),
      {
        error: 'secret "gone" not found',
      },
    );
    assert.deepEqual(
      env({ name: 'x', env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' } } }] }),
      {
        error: "couldn't find key k in ConfigMap n/c",
      },
    );
    assert.deepEqual(
      env({ name: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }),
      {
        error: "couldn't find key k in Secret n/s",
      },
    );
    assert.deepEqual(env({ name: 'x', envFrom: [{ configMapRef: { name: 'none' } }] }), {
      error: 'configmap "none" not found',
    });
  });
  it('leaves optional missing ones unset', () =>
    assert.deepEqual(
      env({
        name: 'x',
        envFrom: [{ secretRef: { name: 'gone', optional: true } }],
        env: [
          { name: 'A', valueFrom: { secretKeyRef: { name: 'gone', key: 'k', optional: true } } },
          { name: 'B', valueFrom: { configMapKeyRef: { name: 'c', key: 'k', optional: true } } },
        ],
      }),
      { env: [], skipped: [] },
    ));
  it('fails an unsupported fieldPath', () =>
    assert.ok(
      'error' in
        env({ name: 'x', env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } }] }),
    ));
  it('names each secret and configMap to fetch once', () =>
    assert.deepEqual(
      envReferences({
        envFrom: [{ secretRef: { name: 's' } }, { configMapRef: { name: 'c' } }],
        env: [
          { name: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          { name: 'b', valueFrom: { secretKeyRef: { name: 't', key: 'k' } } },
        ],
      }),
      { secrets: ['s', 't'], configMaps: ['c'] },
    ));
  it('processEnv puts the resolved environment over the image one', () =>
    assert.deepEqual(
      processEnv({ Env: ['PATH=/bin', 'A=1'] }, { name: 'x', image: 'i' }, [
        ['A', '2'],
        ['B', '3'],
      ]),
      ['PATH=/bin', 'A=2', 'B=3'],
    ));
});

describe('serviceEnv: docker-links variables of the kubernetes Service', () =>
  it('names host, port and the per-port forms', () =>
    assert.deepEqual(
      serviceEnv([
        {
          name: 'kubernetes',
          clusterIP: '10.96.0.1',
          ports: [{ name: 'https', port: 443, protocol: 'TCP' }],
        },
      ]),
      {
        KUBERNETES_SERVICE_HOST: '10.96.0.1',
        KUBERNETES_SERVICE_PORT: '443',
        KUBERNETES_SERVICE_PORT_HTTPS: '443',
        KUBERNETES_PORT: 'tcp://10.96.0.1:443',
        KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
        KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
        KUBERNETES_PORT_443_TCP_PORT: '443',
        KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
      },
    )));

describe('processSecurity: pod and container securityContext into the process', () => {
  const passwd =
    'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n';
  const group = 'root:x:0:\napp:x:1000:\nwheel:x:10:app,other\n';
  const accounts = { passwd, group };
  const pod = (securityContext = {}) => ({ ref: 'p_n(u)', securityContext });
  const sec = (p: object, c: object, user?: string) =>
    processSecurity(pod(p), { name: 'c', securityContext: c }, user ? { User: user } : {}, accounts);
  it('runs as root with CRI-O default capabilities and no noNewPrivileges by default', () =>
    assert.deepEqual(sec({}, {}), {
      uid: 0,
      gid: 0,
      additionalGids: [],
      capabilities: CRIO_DEFAULT_CAPABILITIES,
      noNewPrivileges: false,
      readonlyRootfs: false,
      privileged: false,
    }));
  it("the container's runAsUser and runAsGroup win over the pod's; the gid defaults to the passwd one", () => {
    const r = sec({ runAsUser: 1, runAsGroup: 2 }, { runAsUser: 1000 }) as { uid: number; gid: number };
    assert.deepEqual([r.uid, r.gid], [1000, 2]);
    const s = sec({ runAsUser: 1000 }, {}) as { uid: number; gid: number; additionalGids: number[] };
    assert.deepEqual([s.uid, s.gid, s.additionalGids], [1000, 1000, [10]]);
    const t = sec({}, { runAsUser: 4242 }) as { uid: number; gid: number };
    assert.deepEqual([t.uid, t.gid], [4242, 0]);
  });
  it("the image's user (name, uid, uid:gid) when nobody sets runAsUser", () => {
    assert.deepEqual((sec({}, {}, 'app') as { uid: number }).uid, 1000);
    const r = sec({}, {}, '1000:7') as { uid: number; gid: number };
    assert.deepEqual([r.uid, r.gid], [1000, 7]);
    assert.deepEqual(sec({}, {}, 'ghost'), {
      error: 'unable to find user ghost: no matching entries in passwd file',
    });
  });
  it('fsGroup and supplementalGroups join the groups', () =>
    assert.deepEqual(
      (
        sec({ runAsUser: 65534, fsGroup: 2000, supplementalGroups: [3000, 2000] }, {}) as {
          additionalGids: number[];
        }
      ).additionalGids,
      [2000, 3000],
    ));
  it("refuses root under runAsNonRoot with the kubelet's messages, from the pod or the container", () => {
    assert.deepEqual(sec({ runAsNonRoot: true }, {}), {
      error: 'container has runAsNonRoot and image will run as root (pod: "p_n(u)", container: c)',
    });
    assert.deepEqual(sec({}, { runAsNonRoot: true, runAsUser: 0 }), {
      error: `container's runAsUser breaks non-root policy (pod: "p_n(u)", container: c)`,
    });
    assert.deepEqual(sec({ runAsNonRoot: true }, {}, 'app'), {
      error:
        'container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "p_n(u)", container: c)',
    });
    assert.equal((sec({ runAsNonRoot: true, runAsUser: 65532 }, {}) as { uid: number }).uid, 65532);
    assert.equal((sec({ runAsNonRoot: true }, { runAsNonRoot: false }) as { uid: number }).uid, 0);
  });
  it('privileged gets every capability and may always escalate', () => {
    const r = sec({}, { privileged: true, allowPrivilegeEscalation: false }) as {
      capabilities: string[];
      noNewPrivileges: boolean;
      privileged: boolean;
    };
    assert.deepEqual(r.capabilities, ALL_CAPABILITIES);
    assert.equal(r.noNewPrivileges, false);
    assert.equal(r.privileged, true);
  });
  it('privileged and add ALL give what the runtime holds, no more', () => {
    const some = ['CAP_KILL', 'CAP_SYS_ADMIN'];
    const p = processSecurity(
      pod(),
      { name: 'c', securityContext: { privileged: true } },
      {},
      accounts,
      some,
    );
    assert.deepEqual((p as { capabilities: string[] }).capabilities, some);
    const a = processSecurity(
      pod(),
      { name: 'c', securityContext: { capabilities: { add: ['ALL'], drop: ['KILL'] } } },
      {},
      accounts,
      some,
    );
    assert.deepEqual((a as { capabilities: string[] }).capabilities, ['CAP_SYS_ADMIN']);
  });
  it('reads a /proc capability mask by capability number', () => {
    assert.deepEqual(capabilitiesOfMask('0000000000000400'), ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(capabilitiesOfMask('000001ffffffffff'), ALL_CAPABILITIES);
    assert.ok(!capabilitiesOfMask('000001fffeffffff').includes('CAP_SYS_RESOURCE'));
    assert.deepEqual(capabilitiesOfMask('0'), []);
  });
  it('adds then drops capabilities, with or without the CAP_ prefix, and ALL', () => {
    const caps = (c: object) => (sec({}, { capabilities: c }) as { capabilities: string[] }).capabilities;
    assert.deepEqual(caps({ add: ['SYS_ADMIN'] }), [...CRIO_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    assert.deepEqual(
      caps({ drop: ['KILL', 'CAP_CHOWN'] }),
      CRIO_DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_KILL' && c !== 'CAP_CHOWN'),
    );
    assert.deepEqual(caps({ drop: ['ALL'] }), []);
    assert.deepEqual(caps({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] }), ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(caps({ add: ['ALL'] }), ALL_CAPABILITIES);
  });
  it('allowPrivilegeEscalation: false sets noNewPrivileges; readOnlyRootFilesystem a read-only root', () => {
    const r = sec({}, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }) as {
      noNewPrivileges: boolean;
      readonlyRootfs: boolean;
    };
    assert.deepEqual([r.noNewPrivileges, r.readonlyRootfs], [true, true]);
  });
});

describe('ociSpec with a security context', () => {
  const base = { rootfs: '/r', args: ['sh'], env: [], cwd: '/', hostname: 'h', binds: [], annotations: {} };
  type Spec = {
    process: {
      user: { uid: number; gid: number; additionalGids?: number[] };
      capabilities: Record<string, string[]>;
      noNewPrivileges: boolean;
    };
    root: { readonly: boolean };
    mounts: { destination: string; options?: string[] }[];
    linux: {
      maskedPaths: string[];
      readonlyPaths: string[];
      resources: { devices: { allow: boolean }[] };
      devices?: unknown[];
    };
  };
  const sec = {
    uid: 1000,
    gid: 1000,
    additionalGids: [5],
    capabilities: ['CAP_KILL'],
    noNewPrivileges: true,
    readonlyRootfs: true,
    privileged: false,
  };
  it('sets the user, groups, read-only root and noNewPrivileges; a non-root process holds only the bounding set', () => {
    const s = ociSpec({ ...base, security: sec }) as Spec;
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [5] });
    assert.deepEqual(s.process.capabilities, { bounding: ['CAP_KILL'], effective: [], permitted: [] });
    assert.equal(s.process.noNewPrivileges, true);
    assert.equal(s.root.readonly, true);
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
  });
  it("joins the pod's network namespace by path, or has its own", () => {
    const ns = (x: object) =>
      (x as { linux: { namespaces: { type: string; path?: string }[] } }).linux.namespaces;
    assert.deepEqual(
      ns(ociSpec({ ...base, netns: '/run/netns/p' })).find((n) => n.type === 'network'),
      { type: 'network', path: '/run/netns/p' },
    );
    assert.deepEqual(
      ns(ociSpec(base)).find((n) => n.type === 'network'),
      { type: 'network' },
    );
  });
  it('root holds its capabilities', () =>
    assert.deepEqual(
      (ociSpec({ ...base, security: { ...sec, uid: 0 } }) as Spec).process.capabilities.effective,
      ['CAP_KILL'],
    ));
  it('privileged: no masked or read-only paths, /sys writable, every device', () => {
    const dev = { path: '/dev/null', type: 'c' as const, major: 1, minor: 3, fileMode: 0o666 };
    const s = ociSpec({ ...base, security: { ...sec, privileged: true }, hostDevices: [dev] }) as Spec;
    assert.deepEqual([s.linux.maskedPaths, s.linux.readonlyPaths], [[], []]);
    assert.ok(s.mounts.find((m) => m.destination === '/sys')?.options?.includes('rw'));
    assert.equal(s.linux.resources.devices[0]?.allow, true);
    assert.deepEqual(s.linux.devices, [dev]);
    const u = ociSpec({ ...base, security: sec, hostDevices: [dev] }) as Spec;
    assert.equal(u.linux.devices, undefined);
    assert.equal(u.linux.resources.devices[0]?.allow, false);
  });
});

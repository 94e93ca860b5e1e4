import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  archiveMismatch,
  containerId,
  crioAnnotations,
  ociSpec,
  parseCriLogLine,
  podPhase,
  processArgs,
  processEnv,
  renderLogs,
  restartAfter,
  restartBackoffMs,
  type ContainerRecordView,
} from './decisions.js';
import { createHash } from 'node:crypto';
import { checkPulledManifest, credentialsFor, ImagePullError, normalizeRef, pullLocation } from './images.js';

describe('processArgs: the kubelet combines image and pod as Kubernetes documents', () => {
  const image = { Entrypoint: ['/ep'], Cmd: ['--cmd'] };
  it('uses ENTRYPOINT and CMD without command or args', () =>
    assert.deepEqual(processArgs(image, { name: 'c', image: 'i' }), ['/ep', '--cmd']));
  it('args replace CMD only', () =>
    assert.deepEqual(processArgs(image, { name: 'c', image: 'i', args: ['a'] }), ['/ep', 'a']));
  it('command replaces ENTRYPOINT and drops CMD', () =>
    assert.deepEqual(processArgs(image, { name: 'c', image: 'i', command: ['sh'] }), ['sh']));
  it('command and args together', () =>
    assert.deepEqual(processArgs(image, { name: 'c', image: 'i', command: ['sh'], args: ['-c', 'x'] }), [
      'sh',
      '-c',
      'x',
    ]));
});

describe('processEnv', () => {
  it("overrides the image's values with the pod's literal ones and skips valueFrom", () =>
    assert.deepEqual(
      processEnv(
        { Env: ['PATH=/bin', 'A=1'] },
        {
          name: 'c',
          image: 'i',
          env: [
            { name: 'A', value: '2' },
            { name: 'B', value: 'x=y' },
            { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
          ],
        },
      ),
      ['PATH=/bin', 'A=2', 'B=x=y'],
    ));
  it('gives a PATH when the image has no environment', () =>
    assert.match(processEnv({}, { name: 'c', image: 'i' })[0]!, /^PATH=/));
});

describe('ociSpec', () => {
  const spec = ociSpec({
    rootfs: '/r',
    args: ['sh'],
    env: ['A=1'],
    cwd: '',
    hostname: 'p',
    binds: [{ source: '/v/data', destination: '/data', readOnly: true }],
    annotations: { x: 'y' },
  }) as {
    process: { terminal: boolean; cwd: string };
    root: { path: string };
    mounts: { destination: string; type: string; options?: string[] }[];
    linux: { namespaces: { type: string }[] };
  };
  it('has no terminal (conmon holds pipes, which CRIU keeps as external descriptors)', () =>
    assert.equal(spec.process.terminal, false));
  it("runs in its own PID and mount namespaces, at the root given, from '/' without a cwd", () => {
    assert.deepEqual(
      spec.linux.namespaces.map((n) => n.type),
      ['pid', 'network', 'ipc', 'uts', 'mount'],
    );
    assert.equal(spec.root.path, '/r');
    assert.equal(spec.process.cwd, '/');
  });
  it('bind-mounts volumes read-only when asked', () => {
    const m = spec.mounts.find((x) => x.destination === '/data');
    assert.equal(m?.type, 'bind');
    assert.ok(m?.options?.includes('ro'));
  });
});

it('crioAnnotations carry what checkpointctl and a restore read', () => {
  const a = crioAnnotations({
    namespace: 'ns',
    pod: 'p',
    podUid: 'u',
    container: 'c',
    attempt: 2,
    image: 'img',
    podAnnotations: { k: 'v' },
    labels: { app: 'a' },
  });
  assert.equal(a['io.container.manager'], 'cri-o');
  assert.deepEqual(JSON.parse(a['io.kubernetes.cri-o.Metadata']!), { name: 'c', attempt: 2 });
  assert.equal(a['io.kubernetes.pod.name'], 'p');
  assert.equal(a['io.kubernetes.pod.namespace'], 'ns');
  assert.equal(JSON.parse(a['io.kubernetes.cri-o.Labels']!).app, 'a');
});

it('containerId is 64 hex digits, one per pod, container and attempt', () => {
  assert.match(containerId('u', 'c', 0), /^[0-9a-f]{64}$/);
  assert.notEqual(containerId('u', 'c', 0), containerId('u', 'c', 1));
  assert.notEqual(containerId('u', 'c', 0), containerId('v', 'c', 0));
});

describe('restarts', () => {
  it('back off 10 s doubling to at most 5 minutes', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 9].map(restartBackoffMs),
      [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000],
    );
  });
  it('follow restartPolicy', () => {
    assert.equal(restartAfter('Always', 0, 0, 1000), 11_000);
    assert.equal(restartAfter('Always', 1, 2, 1000), 41_000);
    assert.equal(restartAfter('OnFailure', 0, 0, 1000), undefined);
    assert.equal(restartAfter('OnFailure', 3, 0, 1000), 11_000);
    assert.equal(restartAfter('Never', 3, 0, 1000), undefined);
  });
});

describe('podPhase', () => {
  const running: ContainerRecordView = { view: { state: 'running', startedAt: 't' }, restarts: 0 };
  const pulling: ContainerRecordView = {
    view: { state: 'waiting', reason: 'ErrImagePull', everStarted: false },
    restarts: 0,
  };
  const exited = (code: number): ContainerRecordView => ({
    view: { state: 'exited', exitCode: code, startedAt: 't', finishedAt: 'u' },
    restarts: 0,
  });
  const crashLooping: ContainerRecordView = {
    view: { state: 'waiting', reason: 'CrashLoopBackOff', everStarted: true },
    restarts: 1,
    last: { exitCode: 1, startedAt: 't', finishedAt: 'u' },
  };
  it('is Pending until every container has started once', () => {
    assert.equal(podPhase('Always', [running, pulling]), 'Pending');
    assert.equal(podPhase('Never', [pulling]), 'Pending');
  });
  it('is Running under Always whatever the containers do once started', () => {
    assert.equal(podPhase('Always', [running, crashLooping]), 'Running');
    assert.equal(podPhase('Always', [exited(0)]), 'Running');
  });
  it('ends Succeeded or Failed when every container has ended for good', () => {
    assert.equal(podPhase('Never', [exited(0), exited(0)]), 'Succeeded');
    assert.equal(podPhase('Never', [exited(0), exited(2)]), 'Failed');
    assert.equal(podPhase('Never', [exited(2), running]), 'Running');
    assert.equal(podPhase('OnFailure', [exited(0)]), 'Succeeded');
    assert.equal(podPhase('OnFailure', [crashLooping]), 'Running');
  });
});

describe('CRI logs', () => {
  const log = [
    '2026-12-01T10:00:00.000000001+00:00 stdout F count 1',
    '2026-12-01T10:00:01.000000001+00:00 stderr P part',
    '2026-12-01T10:00:01.500000001+00:00 stderr F ial',
    '2026-12-01T10:00:02.000000001+00:00 stdout F count 2',
    'garbage',
    '',
  ].join('\n');
  it('parses a line', () =>
    assert.deepEqual(parseCriLogLine('2026-12-01T10:00:00Z stdout F a b'), {
      time: '2026-12-01T10:00:00Z',
      stream: 'stdout',
      partial: false,
      content: 'a b',
    }));
  it('renders the content, joining partial lines', () =>
    assert.equal(renderLogs(log), 'count 1\npartial\ncount 2\n'));
  it('tailLines, timestamps, limitBytes, since', () => {
    assert.equal(renderLogs(log, { tailLines: 1 }), 'count 2\n');
    assert.equal(renderLogs(log, { tailLines: 0 }), '');
    assert.equal(renderLogs(log, { tailLines: 9 }), 'count 1\npartial\ncount 2\n');
    assert.equal(
      renderLogs(log, { tailLines: 1, timestamps: true }),
      '2026-12-01T10:00:02.000000001+00:00 count 2\n',
    );
    assert.equal(renderLogs(log, { limitBytes: 5 }), 'count');
    assert.equal(renderLogs(log, { sinceMs: Date.parse('2026-12-01T10:00:01.9Z') }), 'count 2\n');
  });
});

describe('image names', () => {
  it('normalizes short names as CRI-O resolves them to docker.io', () => {
    assert.deepEqual(normalizeRef('busybox'), {
      name: 'docker.io/library/busybox',
      reference: 'latest',
      host: 'docker.io',
      repoPath: 'library/busybox',
    });
    assert.equal(normalizeRef('me/app:2').name, 'docker.io/me/app');
    assert.deepEqual(normalizeRef(`127.0.0.1:5000/a/b@sha256:${'a'.repeat(64)}`), {
      name: '127.0.0.1:5000/a/b',
      reference: `sha256:${'a'.repeat(64)}`,
      host: '127.0.0.1:5000',
      repoPath: 'a/b',
    });
    assert.equal(normalizeRef('registry.local/web:1').reference, '1');
    assert.equal(normalizeRef('localhost/x').host, 'localhost');
  });
  it('drops the tag of name:tag@digest, as the chart pins its image: the digest names it', () => {
    assert.deepEqual(normalizeRef(`127.0.0.1:5000/sm/agent:0.1.0@sha256:${'b'.repeat(64)}`), {
      name: '127.0.0.1:5000/sm/agent',
      reference: `sha256:${'b'.repeat(64)}`,
      host: '127.0.0.1:5000',
      repoPath: 'sm/agent',
    });
  });
  it('pulls a mirrored registry from its mirror', () => {
    const mirrors = { 'registry.local': '127.0.0.1:5000/library' };
    assert.equal(pullLocation('registry.local/web', mirrors), '127.0.0.1:5000/library/web');
    assert.equal(pullLocation('127.0.0.1:5000/e2e/x', mirrors), '127.0.0.1:5000/e2e/x');
  });
  it('picks the longest matching credential prefix, and none for another namespace', () => {
    const creds = [
      { prefix: 'h:1/library', username: 'node', password: 'p' },
      { prefix: 'h:1', username: 'pod', password: 'q' },
      { prefix: 'h:1/library/web', username: 'exact', password: 'r' },
    ];
    assert.equal(credentialsFor('h:1/library/web', creds)?.username, 'exact');
    assert.equal(credentialsFor('h:1/library/db', creds)?.username, 'node');
    assert.equal(credentialsFor('h:1/e2e/x', creds)?.username, 'pod');
    assert.equal(credentialsFor('h:1/e2e/x', creds.slice(0, 1)), undefined);
    assert.equal(credentialsFor('h:10/library/x', creds.slice(0, 1)), undefined);
  });
});

describe('archiveMismatch: the archive a checkpoint image unpacks to against the one recorded at checkpoint time', () => {
  const a = `sha256:${'a'.repeat(64)}`;
  const b = `sha256:${'b'.repeat(64)}`;
  it('the recorded archive, or no record for the container: restore', () => {
    assert.equal(archiveMismatch('app', 'r/x@sha256:1', `app=${a}`, [a]), undefined);
    assert.equal(archiveMismatch('app', 'r/x@sha256:1', `db=${b}`, [a]), undefined);
    assert.equal(archiveMismatch('app', 'r/x@sha256:1', undefined, [a]), undefined);
  });
  it('another archive, or several layers: refused, naming both digests and the annotation', () => {
    assert.equal(
      archiveMismatch('app', 'r/x@sha256:1', `app=${a},db=${b}`, [b]),
      `checkpoint image r/x@sha256:1 of container app unpacks to archive ${b}, not ${a} as recorded when it was ` +
        'checkpointed (migration.dcnlab.com/checkpoint-archive-digests): refusing to restore an archive that is not the one checkpointed',
    );
    assert.match(archiveMismatch('app', 'i', `app=${a}`, [b, a])!, /\(2 layers\)/);
    assert.match(archiveMismatch('app', 'i', `app=${a}`, [])!, /unpacks to archive \(unknown\)/);
  });
});

describe('checkPulledManifest: what a pull got, as CRI-O would judge it', () => {
  const manifest = (mediaType: string) =>
    Buffer.from(
      JSON.stringify({
        config: { digest: 'sha256:c' },
        layers: [{ digest: `sha256:${'d'.repeat(64)}`, mediaType }],
      }),
    );
  const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const TAR = 'application/vnd.oci.image.layer.v1.tar';
  it('an image in clear, by tag or by its digest', () => {
    const m = manifest(TAR);
    assert.equal(checkPulledManifest(m, undefined, 0).digest, digestOf(m));
    assert.equal(checkPulledManifest(m, digestOf(m), 0).digest, digestOf(m));
  });
  it('another manifest than the digest asked for, with no key offered: refused', () => {
    assert.throws(
      () => checkPulledManifest(manifest(TAR), `sha256:${'0'.repeat(64)}`, 0),
      (e: Error) =>
        e instanceof ImagePullError && /manifest digest sha256:\w+ does not match sha256:0+/.test(e.message),
    );
  });
  it('decrypted with a node key: the manifest is rewritten, the image is the digest asked for', () => {
    assert.equal(
      checkPulledManifest(manifest(TAR), `sha256:${'e'.repeat(64)}`, 1).digest,
      `sha256:${'e'.repeat(64)}`,
    );
  });
  it('a layer still encrypted (no key opened it): ErrImagePull naming the keys directory', () => {
    for (const keys of [0, 2])
      assert.throws(
        () => checkPulledManifest(manifest(`${TAR}+encrypted`), undefined, keys),
        (e: Error) =>
          e instanceof ImagePullError &&
          e.message ===
            `layer sha256:${'d'.repeat(64)} is encrypted (${TAR}+encrypted) and this node has no decryption key for it: ` +
              `${keys ? 'none of the 2 key(s)' : 'no keys'} in its decryption keys directory (CRI-O's decryption_keys_path, /etc/crio/keys) opens it`,
      );
  });
});

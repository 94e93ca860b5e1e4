import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckpointRestore } from '@stateful-migration/api';
import { rootLogger, type RestClient } from '@stateful-migration/kube';
import { httpsCall } from '@stateful-migration/kube/testing';
import type { AdmissionRequest } from '../workload/admission.js';
import { RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from '../workload/migration.js';
import { PodMutations } from './pods.js';
import { AdmissionServer } from './server.js';

const log = rootLogger('test', 'silent');

const deployPod = (name = '') => ({
  metadata: {
    ...(name ? { name } : { generateName: 'web-7d9f-' }),
    namespace: 'shop',
    labels: { 'pod-template-hash': '7d9f' },
    ownerReferences: [{ kind: 'ReplicaSet', name: 'web-7d9f', controller: true }],
  },
  spec: { containers: [{ name: 'c', image: 'counter:1' }] },
});
const req = (uid: string, object = deployPod()): AdmissionRequest => ({
  uid,
  operation: 'CREATE',
  namespace: 'shop',
  kind: { group: '', version: 'v1', kind: 'Pod' },
  object,
});
const restore: CheckpointRestore = {
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointRestore',
  metadata: { name: 'move-web', namespace: 'shop' },
  spec: { backupRef: { name: 'web' }, mode: 'Migrate' },
  status: {
    phase: 'RestoreInProgress',
    workload: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
      sourceCluster: 'member1',
      targetCluster: 'member2',
      replicas: 2,
      policy: 'checkpointrestore-move-web',
      into: 'member2',
      from: 'member1',
    },
    replicas: ['web-a', 'web-b'].map((name) => ({
      name,
      images: [{ containerName: 'c', image: `reg/cp@sha256:${name}` }],
      phase: 'Pending' as const,
    })),
  },
};
const assignedOf = (patch?: string) =>
  (JSON.parse(Buffer.from(patch ?? 'W10=', 'base64').toString()) as { path: string; value: unknown }[])
    .filter((o) => o.path === '/metadata/annotations')
    .map((o) => (o.value as Record<string, string>)[RESTORED_FROM_ANNOTATION])[0];

describe('PodMutations: a Deployment checkpoint is given once', () => {
  /** The target's pods as the cluster proxy lists them; answers slowly, so concurrent calls overlap. */
  const listed: unknown[] = [];
  const paths: string[] = [];
  const client = {
    get: async (path: string) => {
      paths.push(path);
      await new Promise((r) => setTimeout(r, 20));
      return { items: [...listed] };
    },
  } as unknown as RestClient;
  let now = 0;
  const pods = new PodMutations({ client, log, restores: () => [restore], now: () => now, claimMs: 1000 });

  it('two pods admitted at once get different checkpoints, and a third none', async () => {
    const answers = await Promise.all(['1', '2', '3'].map((u) => pods.handle('member2', req(u))));
    assert.deepEqual(
      answers.map((x) => assignedOf(x.patch)),
      ['web-a', 'web-b', undefined],
    );
    assert.match(answers[2]!.warnings?.[0] ?? '', /starts from its image/);
    assert.ok(
      paths.every(
        (p) => p === '/apis/cluster.karmada.io/v1alpha1/clusters/member2/proxy/api/v1/namespaces/shop/pods',
      ),
    );
  });

  it('a claim whose pod never appeared lapses; a pod listed with a checkpoint keeps it used (a restarted hub too)', async () => {
    now = 5000;
    const runsA = deployPod('web-7d9f-x');
    (runsA.metadata as { annotations?: Record<string, string> }).annotations = {
      [RESTORED_FROM_ANNOTATION]: 'web-a',
    };
    listed.push(runsA);
    const restarted = new PodMutations({ client, log, restores: () => [restore], now: () => now });
    assert.equal(assignedOf((await pods.handle('member2', req('4'))).patch), 'web-b');
    assert.equal(assignedOf((await restarted.handle('member2', req('5'))).patch), 'web-b');
  });

  it('no answer before the migrations are read (a hub just started): an error the server turns into a refusal', async () => {
    let synced = false;
    const early = new PodMutations({ client, log, restores: () => [restore], synced: () => synced });
    await assert.rejects(early.handle('member2', req('8')), /has not read the CheckpointRestores yet/);
    synced = true;
    assert.equal(assignedOf((await early.handle('member2', req('9'))).patch), 'web-b');
  });

  it("only the Lease holder gives a Deployment's checkpoints: a standby's answer would not see the leader's claims", async () => {
    // The chart runs two replicas behind one Service: two pods admitted at once on different replicas would both be
    // given the checkpoint neither sees claimed yet, and one replica's state would run twice.
    let leading = false;
    const standby = new PodMutations({ client, log, restores: () => [restore], leading: () => leading });
    await assert.rejects(standby.handle('member2', req('10')), /not the leader/);
    // What needs no claim is answered by any replica: a pod held in the source, a pod of no migration.
    assert.match(
      Buffer.from((await standby.handle('member1', req('11'))).patch!, 'base64').toString(),
      /source-stopped/,
    );
    assert.deepEqual(await standby.handle('member3', req('12')), { uid: '12', allowed: true });
    leading = true;
    assert.equal(assignedOf((await standby.handle('member2', req('13'))).patch), 'web-b');
  });

  it('in the source, a pod of the workload is held; elsewhere, or another pod, unchanged', async () => {
    const held = await pods.handle('member1', req('6'));
    assert.match(Buffer.from(held.patch!, 'base64').toString(), new RegExp(SOURCE_STOPPED_GATE));
    assert.deepEqual(await pods.handle('member3', req('7')), { uid: '7', allowed: true });
  });
});

/** A self-signed serving certificate for `cn`, written to c.pem and k.pem in `dir` (replacing any there). */
function selfSigned(dir: string, cn: string): void {
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem'];
  execFileSync('openssl', [...args, '-days', '1', '-subj', `/CN=${cn}`], { cwd: dir, stdio: 'ignore' });
}

describe('AdmissionServer: HTTPS, one route per prefix, the cluster from the path', () => {
  let dir = '';
  let port = 0;
  let server: AdmissionServer;
  const seen: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'admission-'));
    selfSigned(dir, 'localhost');
    server = new AdmissionServer({
      port: 0,
      certFile: join(dir, 'c.pem'),
      keyFile: join(dir, 'k.pem'),
      log,
      routes: {
        '/mutate/pods/': async (cluster, r) => {
          seen.push(cluster);
          if (r.uid === 'boom') throw new Error('member2 unreachable');
          return { uid: r.uid, allowed: true };
        },
      },
    });
    port = await server.start();
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: string) => httpsCall({ port, method: 'POST', path, body });
  const review = (uid: string) =>
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: req(uid) });

  it('answers an AdmissionReview with the route of its path, naming the cluster', async () => {
    const r = await post('/mutate/pods/member2', review('u1'));
    assert.equal(r.code, 200);
    assert.deepEqual(JSON.parse(r.text), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u1', allowed: true },
    });
    assert.deepEqual(seen, ['member2']);
  });

  it("a handler's error refuses the pod with the reason (its controller retries), never lets it through", async () => {
    const r = JSON.parse((await post('/mutate/pods/member2', review('boom'))).text) as {
      response: { allowed: boolean; status: { code: number; message: string } };
    };
    assert.equal(r.response.allowed, false);
    assert.equal(r.response.status.code, 503);
    assert.match(r.response.status.message, /cannot answer for this pod yet: .*member2 unreachable/);
  });

  it('serves a renewed certificate once its files change, without a restart', async () => {
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        });
        s.on('error', reject);
      });
    assert.equal(await served(), 'localhost');
    // cert-manager (or an operator) renews the Secret; the kubelet updates the mounted files in place.
    selfSigned(dir, 'renewed');
    server.reload();
    assert.equal(await served(), 'renewed');
  });

  it('an unknown path, no cluster, or not a review: 404 / 400', async () => {
    assert.equal((await post('/mutate/other/member2', review('u'))).code, 404);
    assert.equal((await post('/mutate/pods/', review('u'))).code, 404);
    assert.equal((await post('/mutate/pods/a/b', review('u'))).code, 404);
    // A path that is not percent-decodable (anyone who reaches the webhook can send one) is a 404, and the server
    // goes on answering: decodeURIComponent threw in a promise nobody awaited, which ends the hub's process.
    assert.equal((await post('/mutate/pods/%E0%A4%A', review('u'))).code, 404);
    assert.equal((await post('/mutate/pods/member2', review('u2'))).code, 200);
    assert.equal((await post('/mutate/pods/member2', '{')).code, 400);
    assert.equal((await post('/mutate/pods/member2', '{}')).code, 400);
  });
});

describe('AdmissionServer with a client CA: only callers with a certificate it signed are answered', () => {
  let dir = '';
  let port = 0;
  let server: AdmissionServer;
  const answered: string[] = [];
  /** openssl with its arguments as one line (no argument here has a space). */
  const ssl = (line: string) => execFileSync('openssl', line.split(' '), { cwd: dir, stdio: 'ignore' });
  /** A self-signed CA `name`. */
  const ca = (name: string) =>
    ssl(`req -x509 -newkey rsa:2048 -nodes -keyout ${name}.key -out ${name}.crt -days 1 -subj /CN=${name}`);
  /** A certificate `name` that CA `by` signs, with the extension line `ext`. */
  const leaf = (name: string, by: string, ext: string) => {
    ssl(`req -new -newkey rsa:2048 -nodes -keyout ${name}.key -out ${name}.csr -subj /CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    ssl(
      `x509 -req -in ${name}.csr -CA ${by}.crt -CAkey ${by}.key -CAcreateserial -days 1 -extfile ${name}.ext -out ${name}.crt`,
    );
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'admission-mtls-'));
    ca('members-ca');
    ca('other-ca');
    leaf('serving', 'members-ca', 'subjectAltName=IP:127.0.0.1');
    leaf('apiserver', 'members-ca', 'extendedKeyUsage=clientAuth');
    leaf('stranger', 'other-ca', 'extendedKeyUsage=clientAuth');
    server = new AdmissionServer({
      port: 0,
      certFile: join(dir, 'serving.crt'),
      keyFile: join(dir, 'serving.key'),
      clientCaFile: join(dir, 'members-ca.crt'),
      log,
      routes: {
        '/mutate/pods/': async (cluster, r) => {
          answered.push(`${cluster}/${r.uid}`);
          return { uid: r.uid, allowed: true };
        },
      },
    });
    port = await server.start();
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, as?: string, at = port) =>
    httpsCall({
      port: at,
      method,
      path,
      ca: readFileSync(join(dir, 'members-ca.crt')),
      ...(as
        ? {
            client: { cert: readFileSync(join(dir, `${as}.crt`)), key: readFileSync(join(dir, `${as}.key`)) },
          }
        : {}),
      ...(method === 'POST'
        ? {
            body: JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              request: req(`u-${as}`),
            }),
          }
        : {}),
    });

  it('answers a member apiserver presenting a certificate the client CA signed', async () => {
    const r = await call('POST', '/mutate/pods/member1', 'apiserver');
    assert.equal(r.code, 200, r.text);
    assert.deepEqual(answered, ['member1/u-apiserver']);
  });

  it('refuses a caller without a certificate, or with one another CA signed, before any route runs', async () => {
    const none = await call('POST', '/mutate/pods/member1');
    assert.equal(none.code, 403);
    assert.match(none.text, /client certificate/);
    const stranger = await call('POST', '/mutate/pods/member1', 'stranger');
    assert.equal(stranger.code, 403);
    assert.deepEqual(answered, ['member1/u-apiserver'], 'no route ran for them');
  });

  it('keeps /healthz open for probes without a certificate', async () => {
    assert.deepEqual(await call('GET', '/healthz'), { code: 200, text: 'ok' });
  });

  /**
   * One request on a new connection that offers `session` (a TLS session ticket) and presents the certificate `as`,
   * if any: the answer, and the session the server gave on that connection (to resume it later).
   */
  let servingCa: Buffer | undefined;
  const resuming = (path: string, o: { session?: Buffer; as?: string }) =>
    new Promise<{ code: number; session: Buffer | undefined; reused: boolean }>((resolve, reject) => {
      let session: Buffer | undefined;
      const q = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent: false,
          ca: (servingCa ??= readFileSync(join(dir, 'members-ca.crt'))),
          ...(o.session ? { session: o.session } : {}),
          ...(o.as
            ? { cert: readFileSync(join(dir, `${o.as}.crt`)), key: readFileSync(join(dir, `${o.as}.key`)) }
            : {}),
        },
        (res) => {
          res.resume();
          const reused = (res.socket as TLSSocket).isSessionReused();
          res.on('end', () => resolve({ code: res.statusCode ?? 0, session, reused }));
        },
      );
      q.on('socket', (s) => s.on('session', (x: Buffer) => (session = x)));
      q.on('error', reject);
      q.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: req('resumed'),
        }),
      );
    });

  it('refuses a caller without a certificate that resumes a TLS session it was given (TLS 1.3 session ticket)', async () => {
    // Any connection without a certificate gets a session ticket (the handshake succeeds: /healthz needs none); a
    // resumed TLS 1.3 session without a certificate is `authorized` in Node (no certificate, so no verify error).
    const first = await resuming('/healthz', {});
    assert.ok(first.session, 'the server gave a session ticket');
    const again = await resuming('/mutate/pods/member1', { session: first.session! });
    assert.ok(again.reused, 'the session was resumed');
    assert.equal(again.code, 403);
    assert.ok(!answered.includes('member1/resumed'), 'no route ran for it');
  });

  it('does not resume a session verified under a client CA that a reload replaced', async () => {
    const caFile = join(dir, 'members-ca.crt');
    const members = readFileSync(caFile);
    const first = await resuming('/mutate/pods/member1', { as: 'apiserver' });
    assert.equal(first.code, 200);
    const resumed = await resuming('/mutate/pods/member1', { session: first.session!, as: 'apiserver' });
    assert.ok(
      resumed.reused && resumed.code === 200,
      'a verified session resumes while its CA is configured',
    );
    writeFileSync(caFile, readFileSync(join(dir, 'other-ca.crt')));
    server.reload();
    try {
      const again = await resuming('/mutate/pods/member1', { session: first.session!, as: 'apiserver' });
      assert.equal(again.code, 403, 'the apiserver certificate is not signed by the CA configured now');
    } finally {
      writeFileSync(caFile, members);
      server.reload();
    }
  });

  describe('with the cluster bound to the certificate (clientClusterFrom)', () => {
    const bound: Record<'cn' | 'uri', { server: AdmissionServer; port: number }> = {} as never;
    before(async () => {
      leaf('member1', 'members-ca', 'extendedKeyUsage=clientAuth');
      leaf(
        'm2-apiserver',
        'members-ca',
        'extendedKeyUsage=clientAuth\nsubjectAltName=URI:karmada-cluster://member2',
      );
      for (const from of ['cn', 'uri'] as const) {
        const s = new AdmissionServer({
          port: 0,
          certFile: join(dir, 'serving.crt'),
          keyFile: join(dir, 'serving.key'),
          clientCaFile: join(dir, 'members-ca.crt'),
          clientClusterFrom: from,
          log,
          routes: {
            '/mutate/pods/': async (cluster, r) => {
              answered.push(`${from}:${cluster}/${r.uid}`);
              return { uid: r.uid, allowed: true };
            },
          },
        });
        bound[from] = { server: s, port: await s.start() };
      }
    });
    after(async () => {
      for (const b of Object.values(bound)) await b.server.stop();
    });

    it("cn: a member's certificate answers for the cluster its CN names, and is refused for another", async () => {
      const own = await call('POST', '/mutate/pods/member1', 'member1', bound.cn.port);
      assert.equal(own.code, 200, own.text);
      const other = await call('POST', '/mutate/pods/member2', 'member1', bound.cn.port);
      assert.equal(other.code, 403);
      assert.match(other.text, /member2/);
      const unnamed = await call('POST', '/mutate/pods/member1', 'apiserver', bound.cn.port);
      assert.equal(unnamed.code, 403, 'CN apiserver is no cluster of the path');
      assert.ok(answered.includes('cn:member1/u-member1'));
      assert.ok(!answered.some((a) => a.startsWith('cn:member2') || a === 'cn:member1/u-apiserver'));
    });

    it('uri: the SAN URI karmada-cluster://<name> names the cluster; the CN does not', async () => {
      const own = await call('POST', '/mutate/pods/member2', 'm2-apiserver', bound.uri.port);
      assert.equal(own.code, 200, own.text);
      const other = await call('POST', '/mutate/pods/member1', 'm2-apiserver', bound.uri.port);
      assert.equal(other.code, 403);
      const byCn = await call('POST', '/mutate/pods/member1', 'member1', bound.uri.port);
      assert.equal(byCn.code, 403, 'a CN alone does not name the cluster under uri');
      assert.deepEqual(
        answered.filter((a) => a.startsWith('uri:')),
        ['uri:member2/u-m2-apiserver'],
      );
    });

    it('refuses to start bound without a client CA: the binding needs a verified certificate', () => {
      assert.throws(
        () =>
          new AdmissionServer({
            port: 0,
            certFile: join(dir, 'serving.crt'),
            keyFile: join(dir, 'serving.key'),
            clientClusterFrom: 'cn',
            log,
            routes: {},
          }),
        /client CA/,
      );
    });
  });
});

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointBackupStatus } from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { HttpError } from '@stateful-migration/kube';
import { loopbackCert, MemoryApi } from '@stateful-migration/kube/testing';
import { decryptLayer, keyFingerprint } from '@stateful-migration/ocicrypt';
import { AgentController } from './controller.js';
import { ENCRYPTED_FOR_ANNOTATION } from './encryption.js';
import { quietLog } from './fake-api.test-support.js';
import type { KubeletClient } from './kubelet.js';
import { AgentMetrics } from './metrics.js';

/**
 * The agent with spec.encryption, against an in-memory apiserver and a loopback HTTPS registry that keeps what it
 * is sent: the keys are read before any checkpoint, a bad keys object stops the run before the kubelet is called,
 * the pushed layer is ciphertext that only the private key opens, status records the digest the registry got and
 * the recipients, and a push completed before a crash is recognised instead of pushed again.
 */

const BACKUP = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const KEYS = '/api/v1/namespaces/shop/configmaps/keys';

interface Registry {
  host: string;
  ca: Buffer;
  blobs: Map<string, Buffer>;
  manifests: Map<string, { body: Buffer; digest: string }>;
  uploads: number;
  close(): Promise<void>;
}

/** A registry of the distribution API's push and pull subset, in memory, over HTTPS with a self-signed cert. */
async function fakeRegistry(): Promise<Registry> {
  const { key, cert: ca } = loopbackCert();
  const reg: Omit<Registry, 'host' | 'close'> = { ca, blobs: new Map(), manifests: new Map(), uploads: 0 };
  const pending = new Map<string, Buffer[]>();
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  type Res = ServerResponse;
  const manifests = (method: string, key: string, body: Buffer, res: Res) => {
    if (method === 'PUT') {
      reg.manifests.set(key, { body, digest: sha(body) });
      return res.writeHead(201, { 'Docker-Content-Digest': sha(body) }).end();
    }
    const found = reg.manifests.get(key);
    if (!found) return res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
    return res.writeHead(200, { 'Docker-Content-Digest': found.digest }).end(found.body);
  };
  const uploads = (method: string, repo: string, id: string, url: URL, body: Buffer, res: Res) => {
    if (method === 'POST') {
      const fresh = randomUUID();
      pending.set(fresh, []);
      return res.writeHead(202, { Location: `/v2/${repo}/blobs/uploads/${fresh}` }).end();
    }
    const parts = pending.get(id);
    if (!parts) return res.writeHead(404).end();
    parts.push(body);
    if (method === 'PATCH') {
      reg.uploads++;
      return res.writeHead(202, { Location: `/v2/${repo}/blobs/uploads/${id}` }).end();
    }
    const blob = Buffer.concat(parts);
    if (sha(blob) !== url.searchParams.get('digest'))
      return res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
    reg.blobs.set(sha(blob), blob);
    return res.writeHead(201).end();
  };
  const server = https.createServer({ key, cert: ca }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'https://x');
      const body = Buffer.concat(chunks);
      const m = /^\/v2\/(.+)\/(manifests|blobs\/uploads|blobs)\/(.*)$/.exec(url.pathname);
      if (url.pathname === '/v2/') return res.writeHead(200).end('{}');
      if (!m) return res.writeHead(404).end();
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      if (kind === 'manifests') return manifests(req.method ?? '', `${repo}:${ref}`, body, res);
      if (kind === 'blobs') {
        const blob = reg.blobs.get(ref);
        return blob ? res.writeHead(200).end(blob) : res.writeHead(404).end();
      }
      return uploads(req.method ?? '', repo, ref, url, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(reg, {
    host,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as Registry;
}

const pem = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const recipient = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const second = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('the agent with spec.encryption', () => {
  let registry: Registry;
  let base: string;
  let dir: string;
  let api: MemoryApi;
  let kubeletCalls: number;
  let agent: AgentController;
  let archive: string;
  let archiveBytes: Buffer;

  before(async () => {
    registry = await fakeRegistry();
  });
  after(() => registry.close());

  // Made in beforeEach, so removed in afterEach (tempDir's after would run as the hook ends).
  afterEach(() => rmSync(base, { recursive: true, force: true }));
  beforeEach(async () => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'encryption-shell-')));
    dir = join(base, 'checkpoints');
    mkdirSync(dir, { mode: 0o700 });
    archive = join(dir, `checkpoint-web-0_shop-app-${randomUUID()}.tar`);
    kubeletCalls = 0;
    api = new MemoryApi();
    api.put('/api/v1/nodes/n1', {
      metadata: { name: 'n1' },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    api.put('/api/v1/namespaces/shop/pods/web-0', {
      metadata: { name: 'web-0', namespace: 'shop', uid: 'p1' },
      spec: { nodeName: 'n1', containers: [{ name: 'app', image: 'nginx' }] },
    });
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    api.put('/api/v1/namespaces/shop/secrets/creds', { data: { username: b64('u'), password: b64('p') } });
    api.put(KEYS, { data: { 'ec.pem': pem(recipient), 'rsa.pem': pem(second) } });
    const startedAt = new Date().toISOString();
    api.put(BACKUP, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'web', namespace: 'shop', uid: 'b1', generation: 1, resourceVersion: '1' },
      spec: {
        schedule: 'immediately',
        podRef: { name: 'web-0' },
        resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-0' },
        registry: { url: registry.host, repository: 'shop/ck', secretRef: { name: 'creds' } },
        encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'keys' } },
      },
      status: {
        phase: 'Checkpointing',
        observedGeneration: 1,
        run: {
          id: `run-${randomUUID().slice(0, 8)}`,
          startedAt,
          generation: 1,
          node: 'n1',
          containers: ['app'],
        },
        checkpointFiles: [],
      },
    });
    const kubelet = {
      checkpoint: async () => {
        kubeletCalls++;
        await writeArchive(archive, {
          containerName: 'app',
          podName: 'web-0',
          namespace: 'shop',
          rootfsImageName: 'nginx',
          memoryBytes: 3 << 20,
        });
        archiveBytes = readFileSync(archive);
        return archive;
      },
    } as unknown as KubeletClient;
    agent = new AgentController({
      node: 'n1',
      client: api.client(),
      kubelet,
      log: quietLog(),
      metrics: new AgentMetrics(),
      storage: { command: '/bin/false' },
      checkpointDir: dir,
      registryCa: registry.ca,
    });
  });

  const backupNow = () => api.object<CheckpointBackup>(BACKUP)!;
  const status = () => backupNow().status!;
  /** Reconciles until the phase is one of `until` (one step per reconcile, as the work queue would). */
  async function runUntil(until: string[]): Promise<CheckpointBackupStatus> {
    for (let i = 0; i < 10 && !until.includes(status().phase ?? ''); i++) await agent.reconcile('shop/web');
    return status();
  }

  it('pushes ciphertext only: the private key opens it to the archive; status records the digest and recipients', async () => {
    const built = await runUntil(['ImageBuilt', 'Failed']);
    assert.equal(built.phase, 'ImageBuilt', built.message);
    assert.equal(
      built.builtImages?.[0]?.digest,
      undefined,
      'an encrypted image has no digest before its push',
    );
    const s = await runUntil(['Completed', 'Failed']);
    assert.equal(s.phase, 'Completed', s.message);
    assert.equal(kubeletCalls, 1);
    assert.ok(!existsSync(archive), 'the archive is deleted once pushed');

    const img = s.builtImages![0]!;
    const tag = img.imageName.split(':').at(-1)!;
    const stored = registry.manifests.get(`shop/ck/checkpoint-web-0-app:${tag}`)!;
    assert.equal(img.pushed, true);
    assert.equal(img.digest, stored.digest);
    const fingerprints = [keyFingerprint(recipient.publicKey), keyFingerprint(second.publicKey)];
    assert.deepEqual(img.encryptedFor, fingerprints);
    const archiveDigest = `sha256:${createHash('sha256').update(archiveBytes).digest('hex')}`;
    assert.equal(img.archiveDigest, archiveDigest, "the archive's digest, hashed in the push's one pass");

    const manifest = JSON.parse(stored.body.toString()) as {
      annotations: Record<string, string>;
      layers: { mediaType: string; digest: string; annotations: Record<string, string> }[];
    };
    assert.equal(manifest.annotations[ENCRYPTED_FOR_ANNOTATION], fingerprints.join(','));
    assert.equal(manifest.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
    assert.equal(manifest.layers.length, 1);
    const layer = manifest.layers[0]!;
    assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+encrypted');
    const blob = registry.blobs.get(layer.digest)!;
    assert.equal(blob.length, archiveBytes.length);
    assert.ok(!blob.equals(archiveBytes));
    assert.ok(!blob.includes('io.kubernetes.pod.namespace'), 'spec.dump is not in the registry in clear');
    assert.ok(!blob.includes('CRIU inventory'));

    for (const k of [recipient.privateKey, second.privateKey]) {
      const out: Buffer[] = [];
      await pipeline(
        Readable.from([blob]),
        decryptLayer(layer.annotations, [k]),
        new Writable({
          write(c: Buffer, _e, cb) {
            out.push(c);
            cb();
          },
        }),
      );
      assert.ok(Buffer.concat(out).equals(archiveBytes), 'decrypts to the archive the kubelet wrote');
    }
    const pushedEvent = api.events().find((e) => e.startsWith('Normal ImagePushed:'));
    assert.match(pushedEvent ?? '', /encrypted for 2 key\(s\)$/);
  });

  it('a push completed before a crash is recognised at the tag, not pushed again', async () => {
    await runUntil(['ImageBuilt']);
    const builtStatus = status();
    await runUntil(['ImagePushed']);
    const pushedDigest = status().builtImages![0]!.digest;
    const uploads = registry.uploads;
    // The agent died after the manifest PUT, before it recorded ImagePushed.
    api.put(BACKUP, { ...backupNow(), status: builtStatus });
    const s = await runUntil(['ImagePushed', 'Failed']);
    assert.equal(s.phase, 'ImagePushed', s.message);
    assert.equal(registry.uploads, uploads, 'no second upload');
    assert.equal(s.builtImages![0]!.digest, pushedDigest);
    assert.equal(
      s.builtImages![0]!.archiveDigest,
      `sha256:${createHash('sha256').update(archiveBytes).digest('hex')}`,
      "the archive's digest read back from the pushed image's config (diff_ids)",
    );
  });

  it('recipients changed since that push: pushed again, for the new recipients', async () => {
    await runUntil(['ImageBuilt']);
    const builtStatus = status();
    await runUntil(['ImagePushed']);
    const before = status().builtImages![0]!.digest;
    api.put(BACKUP, { ...backupNow(), status: builtStatus });
    api.put(KEYS, { data: { 'ec.pem': pem(recipient) } });
    const s = await runUntil(['ImagePushed', 'Failed']);
    assert.equal(s.phase, 'ImagePushed', s.message);
    assert.notEqual(s.builtImages![0]!.digest, before);
    assert.deepEqual(s.builtImages![0]!.encryptedFor, [keyFingerprint(recipient.publicKey)]);
  });

  const refusals: [string, () => unknown, string, RegExp][] = [
    [
      'the keys object is missing',
      () => api.request('DELETE', KEYS),
      'EncryptionKeysNotFound',
      /^spec\.encryption\.publicKeysRef: ConfigMap shop\/keys does not exist in this cluster: create it, one PEM public key per data key; nothing was checkpointed$/,
    ],
    [
      'the agent may not read the keys object',
      () => {
        api.route = (method, path) =>
          method === 'GET' && path === KEYS
            ? new HttpError(403, `HTTP 403: ${path}`, 'Forbidden')
            : undefined;
      },
      'EncryptionKeysUnreadable',
      /ConfigMap shop\/keys cannot be read by the agent \(403 Forbidden\): give its ServiceAccount get on that one ConfigMap, with a Role in shop like a registry secret's; nothing was checkpointed$/,
    ],
    ['the keys object is empty', () => api.put(KEYS, { data: {} }), 'EncryptionKeysInvalid', /holds no keys/],
    [
      'the keys object holds a private key',
      () =>
        api.put(KEYS, {
          data: { 'ec.pem': recipient.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
        }),
      'EncryptionKeysInvalid',
      /data key "ec\.pem", is not a public key to encrypt for: it holds a private key.*; nothing was checkpointed$/,
    ],
    [
      'the keys object holds something else',
      () => api.put(KEYS, { data: { 'notes.txt': 'ask the security team' } }),
      'EncryptionKeysInvalid',
      /data key "notes\.txt".*no PEM block/,
    ],
  ];
  for (const [name, change, reason, message] of refusals)
    it(`${name}: Failed with ${reason} before the kubelet is called, a Warning Event, and a retry`, async () => {
      await change();
      const s = await runUntil(['Failed', 'Checkpointed']);
      assert.equal(s.phase, 'Failed');
      assert.match(s.message ?? '', message);
      assert.equal(s.conditions?.find((c) => c.type === 'Completed')?.reason, reason);
      assert.equal(kubeletCalls, 0, 'no memory dump is taken');
      assert.equal(s.run?.failures, 1, 'counted as a failed attempt: retried with backoff');
      assert.ok(api.events().some((e) => e.startsWith(`Warning ${reason}:`)));
    });

  it('the keys object gone between checkpoint and push: Failed, nothing pushed in clear', async () => {
    await runUntil(['ImageBuilt']);
    await api.request('DELETE', KEYS);
    const uploads = registry.uploads;
    const s = await runUntil(['Failed', 'ImagePushed']);
    assert.equal(s.phase, 'Failed');
    assert.match(s.message ?? '', /does not exist in this cluster.*; the checkpoint was not pushed/);
    assert.equal(registry.uploads, uploads);
  });

  it('a Secret works as a ConfigMap does (base64 data)', async () => {
    const b = backupNow();
    b.spec.encryption = { publicKeysRef: { kind: 'Secret', name: 'pubkeys' } };
    api.put(BACKUP, b);
    api.put('/api/v1/namespaces/shop/secrets/pubkeys', {
      data: { k: Buffer.from(pem(recipient)).toString('base64') },
    });
    const s = await runUntil(['Completed', 'Failed']);
    assert.equal(s.phase, 'Completed', s.message);
    assert.deepEqual(s.builtImages![0]!.encryptedFor, [keyFingerprint(recipient.publicKey)]);
  });
});

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DECRYPTION_KEYS_ANNOTATION } from '@stateful-migration/api';
import type { Logger, RestClient } from '@stateful-migration/kube';
import { keyFingerprint } from '@stateful-migration/ocicrypt';
import { crioDecryptionKeysPath, keysAnnotationPatch, readNodeDecryptionKeys } from './node-keys.js';
import { RuntimePublisher } from './runtime-publisher.js';

const root = mkdtempSync(join(tmpdir(), 'node-keys-'));
after(() => rmSync(root, { recursive: true, force: true }));
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const fp = keyFingerprint(ec.publicKey);

describe("node-keys: the thumbprints of the node runtime's decryption keys", () => {
  it("decryption_keys_path: CRI-O's default, or the last file that sets it", () => {
    assert.equal(crioDecryptionKeysPath([]), '/etc/crio/keys');
    assert.equal(
      crioDecryptionKeysPath([
        { name: 'crio.conf', text: '[crio.image]\ndecryption_keys_path = "/etc/crio/a"\n' },
        { name: '10.conf', text: '[crio.runtime]\ndecryption_keys_path = "/ignored"\n' },
        { name: '20.conf', text: '[crio.image]\ndecryption_keys_path = "/var/lib/keys"\n' },
      ]),
      '/var/lib/keys',
    );
  });

  it('the annotation patch lists the thumbprints sorted, empty for none, nothing when it already says so', () => {
    assert.deepEqual(keysAnnotationPatch(undefined, []), {
      metadata: { annotations: { [DECRYPTION_KEYS_ANNOTATION]: '' } },
    });
    assert.deepEqual(keysAnnotationPatch('', ['sha256:b', 'sha256:a']), {
      metadata: { annotations: { [DECRYPTION_KEYS_ANNOTATION]: 'sha256:a,sha256:b' } },
    });
    assert.equal(keysAnnotationPatch('sha256:a,sha256:b', ['sha256:b', 'sha256:a']), undefined);
  });

  it('reads <hostRoot>/etc/crio/keys; names unusable files by their path on the node, never their content', async () => {
    const host = join(root, 'host');
    mkdirSync(join(host, 'etc/crio/keys'), { recursive: true });
    writeFileSync(join(host, 'etc/crio/keys/e2e.pem'), pem, { mode: 0o600 });
    writeFileSync(join(host, 'etc/crio/keys/junk'), 'secret-looking junk');
    const keys = await readNodeDecryptionKeys(host);
    assert.deepEqual(keys, {
      path: '/etc/crio/keys',
      fingerprints: [fp],
      unusable: [{ file: '/etc/crio/keys/junk', why: 'not an unencrypted PEM private key' }],
    });
  });

  it('RuntimePublisher with readKeys annotates its Node with the thumbprints, once, and warns of an unusable file', async () => {
    const annotations: Record<string, string> = {};
    const patches: unknown[] = [];
    const client = {
      get: () =>
        Promise.resolve({
          metadata: {
            labels: { 'migration.dcnlab.com/checkpoint-restore': 'checkpoint_restore' },
            annotations: { ...annotations },
          },
        }),
      request: (
        _m: string,
        _p: string,
        o: { body: { metadata: { annotations?: Record<string, string> } } },
      ) => {
        patches.push(o.body);
        Object.assign(annotations, o.body.metadata.annotations);
        return Promise.resolve({});
      },
    } as unknown as RestClient;
    const warnings: string[] = [];
    const log = { info: () => undefined, warn: (m: string) => warnings.push(m) } as unknown as Logger;
    const p = new RuntimePublisher({
      client,
      node: 'm2-a',
      log,
      hostRoot: join(root, 'host'),
      read: () => Promise.resolve('checkpoint_restore'),
      readKeys: readNodeDecryptionKeys,
    });
    await p.publish();
    await p.publish();
    assert.deepEqual(patches, [{ metadata: { annotations: { [DECRYPTION_KEYS_ANNOTATION]: fp } } }]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /decryption key file \/etc\/crio\/keys\/junk of this node is not usable/);
    assert.ok(!warnings.join().includes('secret-looking'));
  });

  it('a decryption_keys_path outside /etc/crio (the one host directory the DaemonSet mounts) is an error, not "no keys"', async () => {
    // CRI-O on the host reads its keys there; in the agent's container that path does not exist, and reading it as
    // an empty directory would publish that the node holds no key: every encrypted restore to it refused, wrongly.
    const host = join(root, 'elsewhere');
    mkdirSync(join(host, 'etc/crio/crio.conf.d'), { recursive: true });
    writeFileSync(
      join(host, 'etc/crio/crio.conf.d/10-keys.conf'),
      '[crio.image]\ndecryption_keys_path = "/opt/crio-keys"\n',
    );
    await assert.rejects(readNodeDecryptionKeys(host), /\/opt\/crio-keys is outside \/etc\/crio/);
  });
});

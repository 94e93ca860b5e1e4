import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import type { PublicKeysRef } from '@stateful-migration/api';
import { ANNOTATION_JWE, ANNOTATION_PUBOPTS, keyFingerprint } from '@stateful-migration/ocicrypt';
import {
  ENCRYPTED_FOR_ANNOTATION,
  encryptionRefusal,
  isOwnEncryptedPush,
  keysObjectData,
  keysUnavailable,
  recipientsFrom,
  withRecipients,
} from './encryption.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const cm: PublicKeysRef = { kind: 'ConfigMap', name: 'keys' };
const secret: PublicKeysRef = { kind: 'Secret', name: 'keys' };

describe('recipientsFrom: every data key one public key, or a refusal naming the key and why', () => {
  it('gives every key, in data-key order, once each', () => {
    const r = recipientsFrom(cm, 'shop', {
      'b-ec.pem': pem(ec),
      'a-rsa.pem': pem(rsa),
      'c-again.pem': pem(rsa),
    });
    assert.ok(r.ok);
    assert.deepEqual(
      r.recipients.map((x) => x.fingerprint),
      [keyFingerprint(rsa.publicKey), keyFingerprint(ec.publicKey)],
    );
    assert.deepEqual(
      r.recipients.map((x) => x.describe),
      ['RSA 2048', 'EC P-384'],
    );
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    [
      'an empty object',
      {},
      /^spec\.encryption\.publicKeysRef: ConfigMap shop\/keys holds no keys: put one PEM public key \(RSA or EC\) in each data key$/,
    ],
    [
      'a private key next to a good one',
      {
        'ok.pem': pem(rsa),
        'oops.pem': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      },
      /data key "oops\.pem", is not a public key to encrypt for: it holds a private key: only public keys belong there/,
    ],
    ['a text that is no key', { readme: 'keys for the shop team' }, /data key "readme".*no PEM block/],
    [
      'a small RSA key',
      { old: pem(generateKeyPairSync('rsa', { modulusLength: 1024 })) },
      /data key "old".*RSA key of 1024 bits; at least 2048 are needed/,
    ],
    [
      'an Ed25519 key',
      { ed: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string },
      /data key "ed".*ed25519 key/,
    ],
    [
      'two keys in one data key',
      { both: pem(rsa) + pem(ec) },
      /data key "both".*2 PEM blocks; give one key per entry/,
    ],
  ];
  for (const [name, data, why] of refused)
    it(`refuses ${name}`, () => {
      const r = recipientsFrom(cm, 'shop', data);
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.reason, 'EncryptionKeysInvalid');
      assert.match(r.message, why);
    });

  it('never quotes key material', () => {
    const priv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const r = recipientsFrom(secret, 'shop', { k: priv });
    assert.ok(!r.ok && !r.message.includes(priv.split('\n')[1]!.slice(0, 16)));
    assert.match(!r.ok ? r.message : '', /^spec\.encryption\.publicKeysRef: Secret shop\/keys, data key "k"/);
  });
});

describe('keysObjectData: Secret data is base64, ConfigMap data is text and binaryData base64', () => {
  it('decodes each', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    assert.deepEqual(keysObjectData('Secret', { data: { a: b64('A') } }), { a: 'A' });
    assert.deepEqual(keysObjectData('ConfigMap', { data: { a: 'A' }, binaryData: { b: b64('B') } }), {
      a: 'A',
      b: 'B',
    });
    assert.deepEqual(keysObjectData('Secret', {}), {});
    assert.deepEqual(keysObjectData('ConfigMap', {}), {});
  });
});

describe('keysUnavailable: why the keys object could not be read', () => {
  it('404: it does not exist here', () => {
    assert.deepEqual(keysUnavailable(cm, 'shop', 404, 'HTTP 404'), {
      reason: 'EncryptionKeysNotFound',
      message:
        'spec.encryption.publicKeysRef: ConfigMap shop/keys does not exist in this cluster: create it, one PEM public key per data key',
    });
  });
  it('403: the agent needs a Role for that one object', () => {
    const r = keysUnavailable(secret, 'shop', 403, 'HTTP 403');
    assert.equal(r.reason, 'EncryptionKeysUnreadable');
    assert.match(
      r.message,
      /Secret shop\/keys cannot be read by the agent \(403 Forbidden\): give its ServiceAccount get on that one Secret, with a Role in shop/,
    );
  });
  it('anything else: the error as described', () => {
    assert.match(
      keysUnavailable(cm, 'shop', undefined, 'ECONNRESET').message,
      /cannot be read \(ECONNRESET\)$/,
    );
  });
});

describe('encryptionRefusal', () => {
  const ref = { publicKeysRef: cm };
  it('refuses encryption without a registry, and nothing else', () => {
    assert.equal(
      encryptionRefusal({ spec: { encryption: ref } } as never)?.reason,
      'EncryptionNeedsRegistry',
    );
    assert.equal(
      encryptionRefusal({ spec: { encryption: ref, registry: { url: 'r', repository: 'x' } } } as never),
      undefined,
    );
    assert.equal(encryptionRefusal({ spec: {} } as never), undefined);
  });
});

describe("isOwnEncryptedPush: the image at a run's tag is that run's encrypted push", () => {
  const fps = ['sha256:aa', 'sha256:bb'];
  const annotations = withRecipients({ 'org.criu.checkpoint.container.name': 'app' }, fps);
  const layer = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+encrypted',
    annotations: { [ANNOTATION_JWE]: 'e30=', [ANNOTATION_PUBOPTS]: 'e30=' },
  };
  const ours = { annotations: { ...annotations, 'org.opencontainers.image.created': 'x' }, layers: [layer] };
  it('recognises it', () => {
    assert.equal(annotations[ENCRYPTED_FOR_ANNOTATION], 'sha256:aa,sha256:bb');
    assert.ok(isOwnEncryptedPush(ours, annotations, fps));
  });
  const others: [string, Parameters<typeof isOwnEncryptedPush>[0], string[]][] = [
    ['a layer in clear', { ...ours, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar' }] }, fps],
    ['an encrypted layer without a JWE', { ...ours, layers: [{ mediaType: layer.mediaType }] }, fps],
    [
      'one layer of two in clear',
      { ...ours, layers: [layer, { mediaType: 'application/vnd.oci.image.layer.v1.tar' }] },
      fps,
    ],
    ['no layers', { ...ours, layers: [] }, fps],
    ['other recipients', ours, ['sha256:aa']],
    ['recipients in another order', ours, ['sha256:bb', 'sha256:aa']],
    [
      'another container',
      { ...ours, annotations: { ...ours.annotations, 'org.criu.checkpoint.container.name': 'db' } },
      fps,
    ],
    ['no annotations', { layers: [layer] }, fps],
  ];
  for (const [name, found, recipients] of others)
    it(`not ${name}`, () => {
      assert.equal(
        isOwnEncryptedPush(
          found,
          withRecipients({ 'org.criu.checkpoint.container.name': 'app' }, recipients),
          recipients,
        ),
        false,
      );
    });
  it('withRecipients leaves an image in clear as it is', () => {
    const a = { x: 'y' };
    assert.equal(withRecipients(a, undefined), a);
  });
});

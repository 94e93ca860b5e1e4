import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { keyFingerprint } from './keys.js';
import { keysObjectData, recipientsFrom, type KeysObjectRef } from './keys-object.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const pem = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const cm: KeysObjectRef = { kind: 'ConfigMap', name: 'keys' };
const secret: KeysObjectRef = { kind: 'Secret', name: 'keys' };

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

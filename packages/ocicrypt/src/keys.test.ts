import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { KeyError, keyFingerprint, parsePrivateKey, parseRecipientKey, pemLabels } from './keys.js';

const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits });
const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });
const spki = (k: { publicKey: KeyObject }) => k.publicKey.export({ type: 'spki', format: 'pem' }) as string;

const rsa2048 = rsa(2048);
const p256 = ec('P-256');

describe('parseRecipientKey: one PEM public key that ocicrypt JWE can wrap for', () => {
  const accepted: [string, () => string, string][] = [
    ['RSA 2048, SubjectPublicKeyInfo', () => spki(rsa2048), 'RSA 2048'],
    ['RSA 4096', () => spki(rsa(4096)), 'RSA 4096'],
    [
      'RSA, PKCS#1 "RSA PUBLIC KEY"',
      () => rsa2048.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      'RSA 2048',
    ],
    ['EC P-256', () => spki(p256), 'EC P-256'],
    ['EC P-384', () => spki(ec('P-384')), 'EC P-384'],
    ['EC P-521', () => spki(ec('P-521')), 'EC P-521'],
    [
      'with text around it and CRLF line ends',
      () => `my key\r\n${spki(p256).replace(/\n/g, '\r\n')}\r\n`,
      'EC P-256',
    ],
  ];
  for (const [name, pem, describe] of accepted)
    it(`accepts ${name}`, () => {
      const r = parseRecipientKey(pem());
      assert.equal(r.describe, describe);
      assert.equal(r.kind, describe.split(' ')[0]);
      assert.match(r.fingerprint, /^sha256:[0-9a-f]{64}$/);
    });

  const pkcs8 = (k: { privateKey: KeyObject }) =>
    k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const refused: [string, () => string, RegExp][] = [
    ['an empty text', () => '', /no PEM block/],
    ['text without PEM', () => 'ssh-rsa AAAAB3NzaC1yc2E user@host', /no PEM block/],
    ['a PKCS#8 private key', () => pkcs8(rsa2048), /private key: only public keys belong there/],
    [
      'an RSA PRIVATE KEY',
      () => rsa2048.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
      /private key/,
    ],
    [
      'an EC PRIVATE KEY',
      () => p256.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
      /private key/,
    ],
    ['a public key next to its private key', () => spki(p256) + pkcs8(p256), /private key/],
    [
      'two public keys in one entry',
      () => spki(p256) + spki(rsa2048),
      /2 PEM blocks; give one key per entry/,
    ],
    [
      'a certificate',
      () => '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      /a CERTIFICATE PEM block, not a PUBLIC KEY/,
    ],
    [
      'a PUBLIC KEY block with garbage inside',
      () => '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n',
      /cannot be read as a key/,
    ],
    ['RSA 1024', () => spki(rsa(1024)), /RSA key of 1024 bits; at least 2048/],
    [
      'EC secp256k1',
      () => spki(ec('secp256k1')),
      /curve secp256k1; ocicrypt's JWE takes P-256, P-384 or P-521/,
    ],
    [
      'Ed25519',
      () => generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string,
      /ed25519 key; ocicrypt's JWE takes RSA/,
    ],
    [
      'X25519',
      () => generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }) as string,
      /x25519 key/,
    ],
  ];
  for (const [name, pem, why] of refused)
    it(`refuses ${name}`, () => {
      assert.throws(
        () => parseRecipientKey(pem()),
        (e: Error) => e instanceof KeyError && why.test(e.message),
      );
    });

  it('never puts key material in its messages', () => {
    const priv = pkcs8(rsa2048);
    try {
      parseRecipientKey(priv);
      assert.fail('accepted a private key');
    } catch (e) {
      const body = priv.split('\n')[1]!;
      assert.ok(!(e as Error).message.includes(body.slice(0, 20)));
    }
  });
});

describe('keyFingerprint: sha256 of the SubjectPublicKeyInfo', () => {
  it('is the digest of the DER SubjectPublicKeyInfo', () => {
    const der = p256.publicKey.export({ type: 'spki', format: 'der' });
    assert.equal(keyFingerprint(p256.publicKey), `sha256:${createHash('sha256').update(der).digest('hex')}`);
  });
  it("is the same for a key's PKCS#1 and SPKI forms and for its private half", () => {
    const a = parseRecipientKey(spki(rsa2048)).fingerprint;
    const b = parseRecipientKey(
      rsa2048.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string,
    ).fingerprint;
    assert.equal(a, b);
    assert.equal(keyFingerprint(rsa2048.privateKey), a);
  });
  it('differs between keys', () => {
    assert.notEqual(keyFingerprint(p256.publicKey), keyFingerprint(ec('P-256').publicKey));
  });
});

describe('parsePrivateKey', () => {
  it('reads PKCS#8, PKCS#1 and SEC 1 PEM', () => {
    for (const pem of [
      rsa2048.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      rsa2048.privateKey.export({ type: 'pkcs1', format: 'pem' }),
      p256.privateKey.export({ type: 'sec1', format: 'pem' }),
    ])
      assert.equal(parsePrivateKey(pem as string).type, 'private');
  });
  it('refuses a public key, an encrypted private key, garbage and other key types', () => {
    assert.throws(() => parsePrivateKey(spki(p256)), KeyError);
    assert.throws(
      () =>
        parsePrivateKey(
          p256.privateKey.export({
            type: 'pkcs8',
            format: 'pem',
            cipher: 'aes-256-cbc',
            passphrase: 'x',
          }) as string,
        ),
      KeyError,
    );
    assert.throws(() => parsePrivateKey('nope'), /not an unencrypted PEM private key/);
    assert.throws(
      () =>
        parsePrivateKey(
          generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        ),
      /ed25519 private key/,
    );
  });
});

describe('pemLabels', () => {
  it('lists the labels of well-formed blocks in order', () => {
    assert.deepEqual(pemLabels(spki(p256) + 'x\n' + spki(rsa2048)), ['PUBLIC KEY', 'PUBLIC KEY']);
    assert.deepEqual(pemLabels('-----BEGIN A-----\n-----END B-----'), []);
  });
});

import assert from 'node:assert/strict';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  constants,
  type KeyObject,
} from 'node:crypto';
import { describe, it } from 'node:test';
import {
  ALG_EC,
  ALG_RSA,
  aesKeyUnwrap,
  aesKeyWrap,
  concatKdf,
  ecJwk,
  jweDecrypt,
  jweEncrypt,
  parseJwe,
  type JweRandom,
} from './jwe.js';
import { KeyError, parsePrivateKey, parseRecipientKey, type RecipientKey } from './keys.js';
import { ANNOTATION_JWE, parsePrivateOptions, privateOptionsJson } from './options.js';
import {
  EC_PRIVATE_PEM,
  RSA_PRIVATE_PEM,
  SKOPEO_ANNOTATIONS,
  SKOPEO_LAYER_DIGEST,
} from './skopeo-fixtures.test-support.js';

const recipient = (k: KeyObject): RecipientKey =>
  parseRecipientKey(k.export({ type: 'spki', format: 'pem' }) as string);
const pair = (spec: 'rsa' | 'P-256' | 'P-384' | 'P-521') =>
  spec === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: spec });

const rsaA = pair('rsa');
const rsaB = pair('rsa');
const p256 = pair('P-256');
const p384 = pair('P-384');
const p521 = pair('P-521');
const otherP256 = pair('P-256');

const unb64u = (s: string) =>
  JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;
const skopeoJwe = (which: 'rsa' | 'ec' | 'both') =>
  Buffer.from(SKOPEO_ANNOTATIONS[which][ANNOTATION_JWE]!, 'base64').toString('utf8');

/** A counter-based "random" source, so a JWE can be checked part by part. */
function fixedRandom(ephemeral?: KeyObject): JweRandom & { given: Buffer[] } {
  const given: Buffer[] = [];
  let n = 0;
  return {
    given,
    bytes: (len) => {
      const b = Buffer.alloc(len, ++n);
      given.push(b);
      return Buffer.from(b);
    },
    ephemeral: (curve) => ephemeral ?? generateKeyPairSync('ec', { namedCurve: curve }).privateKey,
  };
}

describe('concatKdf and AES key wrap: the published vectors', () => {
  it('RFC 7518 appendix C: Z of the example keys, and the derived key VqqN6vgjbSBcIijNcacQGg', () => {
    const alice = createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: 'gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0',
        y: 'SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps',
        d: '0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo',
      },
    });
    const bob = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: 'weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ',
        y: 'e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck',
      },
    });
    const z = diffieHellman({ privateKey: alice, publicKey: bob });
    assert.deepEqual(
      [...z],
      [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218,
        128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
      ],
    );
    const key = concatKdf(z, 'A128GCM', Buffer.from('Alice'), Buffer.from('Bob'), 128);
    assert.equal(key.toString('base64url'), 'VqqN6vgjbSBcIijNcacQGg');
  });

  it('more than one round: round 1 then round 2, cut to the length asked', () => {
    const z = Buffer.alloc(32, 7);
    const other = Buffer.concat([
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('X'),
      Buffer.alloc(4),
      Buffer.alloc(4),
      Buffer.from([0, 0, 1, 128]),
    ]);
    const round = (i: number) =>
      createHash('sha256')
        .update(Buffer.from([0, 0, 0, i]))
        .update(z)
        .update(other)
        .digest();
    const out = concatKdf(z, 'X', Buffer.alloc(0), Buffer.alloc(0), 384);
    assert.deepEqual(out, Buffer.concat([round(1), round(2)]).subarray(0, 48));
  });

  it('RFC 3394 4.6: 256 bits of key data with a 256-bit KEK', () => {
    const kek = Buffer.from('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', 'hex');
    const data = Buffer.from('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F', 'hex');
    const wrapped = aesKeyWrap(kek, data);
    assert.equal(
      wrapped.toString('hex').toUpperCase(),
      '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21',
    );
    assert.deepEqual(aesKeyUnwrap(kek, wrapped), data);
    assert.throws(() => aesKeyUnwrap(Buffer.alloc(32), wrapped));
  });
});

describe('jweEncrypt: go-jose v2 FullSerialize, as ocicrypt wraps layer options', () => {
  const plaintext = Buffer.from('{"symkey":"x"}');

  it('one RSA recipient: flattened, exactly the members and protected header skopeo writes', () => {
    const json = jweEncrypt(plaintext, [recipient(rsaA.publicKey)]);
    const ours = JSON.parse(json) as Record<string, string>;
    const theirs = JSON.parse(skopeoJwe('rsa')) as Record<string, string>;
    assert.deepEqual(Object.keys(ours), ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag']);
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
    // Byte for byte the protected header go-jose writes for RSA-OAEP + A256GCM.
    assert.equal(ours.protected, theirs.protected);
    assert.equal(ours.protected, 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ');
    assert.equal(Buffer.from(ours.encrypted_key!, 'base64url').length, 256);
    assert.equal(Buffer.from(ours.iv!, 'base64url').length, 12);
    assert.equal(Buffer.from(ours.tag!, 'base64url').length, 16);
    assert.ok(!/[=+/]/.test(json), 'unpadded base64url throughout');
    assert.deepEqual(jweDecrypt(json, [rsaA.privateKey]), plaintext);
  });

  it('RSA-OAEP is OAEP with SHA-1 and an empty label (go-jose RSA_OAEP), wrapping a fresh 256-bit key', () => {
    const random = fixedRandom();
    const json = jweEncrypt(plaintext, [recipient(rsaA.publicKey)], random);
    const ek = Buffer.from((JSON.parse(json) as { encrypted_key: string }).encrypted_key, 'base64url');
    const cek = privateDecrypt(
      { key: rsaA.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      ek,
    );
    assert.deepEqual(cek, random.given[0]);
    assert.equal(cek.length, 32);
  });

  for (const [curve, k, size] of [
    ['P-256', p256, 32],
    ['P-384', p384, 48],
    ['P-521', p521, 66],
  ] as const) {
    it(`one EC ${curve} recipient: alg, enc, epk (kty, crv, x, y padded to ${size} bytes) in the protected header`, () => {
      const eph = generateKeyPairSync('ec', { namedCurve: curve }).privateKey;
      const random = fixedRandom(eph);
      const json = jweEncrypt(plaintext, [recipient(k.publicKey)], random);
      const ours = JSON.parse(json) as Record<string, string>;
      assert.deepEqual(Object.keys(ours), Object.keys(JSON.parse(skopeoJwe('ec')) as object));
      const header = unb64u(ours.protected!);
      assert.deepEqual(Object.keys(header), ['alg', 'enc', 'epk']);
      assert.equal(header.alg, ALG_EC);
      assert.equal(header.enc, 'A256GCM');
      const epk = header.epk as Record<string, string>;
      assert.deepEqual(Object.keys(epk), ['kty', 'crv', 'x', 'y']);
      assert.deepEqual(epk, ecJwk(eph));
      assert.equal(epk.crv, curve);
      assert.equal(Buffer.from(epk.x!, 'base64url').length, size);
      assert.equal(Buffer.from(epk.y!, 'base64url').length, size);
      // The encrypted key is AES-KW under Concat KDF(ECDH(ephemeral, recipient), "ECDH-ES+A256KW", no apu/apv).
      const z = diffieHellman({ privateKey: eph, publicKey: k.publicKey });
      const kek = concatKdf(z, ALG_EC, Buffer.alloc(0), Buffer.alloc(0), 256);
      assert.deepEqual(aesKeyUnwrap(kek, Buffer.from(ours.encrypted_key!, 'base64url')), random.given[0]);
      assert.deepEqual(jweDecrypt(json, [k.privateKey]), plaintext);
      assert.equal(jweDecrypt(json, [otherP256.privateKey]), undefined);
    });
  }

  it("the epk's header matches skopeo's field for field", () => {
    const theirs = unb64u((JSON.parse(skopeoJwe('ec')) as { protected: string }).protected);
    const ours = unb64u(
      (JSON.parse(jweEncrypt(plaintext, [recipient(p256.publicKey)])) as { protected: string }).protected,
    );
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
    assert.deepEqual(Object.keys(ours.epk as object), Object.keys(theirs.epk as object));
  });

  it('several recipients: general serialization, protected {"enc":"A256GCM"}, per-recipient headers, and the first key repeated at the top as go-jose does', () => {
    const json = jweEncrypt(plaintext, [
      recipient(rsaA.publicKey),
      recipient(p256.publicKey),
      recipient(rsaB.publicKey),
    ]);
    const ours = JSON.parse(json) as {
      protected: string;
      recipients: { header: Record<string, unknown>; encrypted_key: string }[];
      encrypted_key: string;
    };
    const theirs = JSON.parse(skopeoJwe('both')) as typeof ours;
    assert.deepEqual(Object.keys(ours), [
      'protected',
      'recipients',
      'encrypted_key',
      'iv',
      'ciphertext',
      'tag',
    ]);
    assert.deepEqual(Object.keys(ours), Object.keys(theirs));
    assert.equal(ours.protected, theirs.protected);
    assert.equal(ours.protected, 'eyJlbmMiOiJBMjU2R0NNIn0');
    assert.deepEqual(
      ours.recipients.map((r) => Object.keys(r)),
      [
        ['header', 'encrypted_key'],
        ['header', 'encrypted_key'],
        ['header', 'encrypted_key'],
      ],
    );
    assert.deepEqual(ours.recipients[0]!.header, { alg: ALG_RSA });
    assert.deepEqual(Object.keys(ours.recipients[1]!.header), Object.keys(theirs.recipients[1]!.header));
    assert.equal(ours.encrypted_key, ours.recipients[0]!.encrypted_key);
    assert.equal(theirs.encrypted_key, theirs.recipients[0]!.encrypted_key);
    for (const k of [rsaA, p256, rsaB]) assert.deepEqual(jweDecrypt(json, [k.privateKey]), plaintext);
    assert.equal(jweDecrypt(json, [otherP256.privateKey, pair('rsa').privateKey]), undefined);
  });

  it('a fresh content key and IV every time', () => {
    const a = JSON.parse(jweEncrypt(plaintext, [recipient(p256.publicKey)])) as Record<string, string>;
    const b = JSON.parse(jweEncrypt(plaintext, [recipient(p256.publicKey)])) as Record<string, string>;
    assert.notEqual(a.iv, b.iv);
    assert.notEqual(a.ciphertext, b.ciphertext);
    assert.notEqual(a.protected, b.protected, 'a fresh ephemeral key');
  });

  it('no recipients is an error', () => {
    assert.throws(() => jweEncrypt(plaintext, []), KeyError);
  });
});

describe('jweDecrypt: what skopeo (ocicrypt, go-jose) wrapped opens here', () => {
  const rsaKey = parsePrivateKey(RSA_PRIVATE_PEM);
  const ecKey = parsePrivateKey(EC_PRIVATE_PEM);
  const cases: ['rsa' | 'ec' | 'both', KeyObject[]][] = [
    ['rsa', [rsaKey]],
    ['ec', [ecKey]],
    ['both', [rsaKey]],
    ['both', [ecKey]],
    ['both', [otherP256.privateKey, ecKey]],
  ];
  for (const [which, keys] of cases)
    it(`${which} with ${keys.length} key(s): the private options, re-serialized here byte for byte`, () => {
      const opened = jweDecrypt(skopeoJwe(which), keys);
      assert.ok(opened);
      const json = opened.toString('utf8');
      const opts = parsePrivateOptions(json);
      assert.equal(opts.digest, SKOPEO_LAYER_DIGEST);
      // Our writer gives exactly the JSON ocicrypt wrote: same fields, order and encodings.
      assert.equal(privateOptionsJson(opts), json);
    });

  it('a key that is no recipient opens nothing: undefined, not an error', () => {
    assert.equal(jweDecrypt(skopeoJwe('rsa'), [ecKey, rsaA.privateKey]), undefined);
    assert.equal(jweDecrypt(skopeoJwe('ec'), [rsaKey, otherP256.privateKey, p384.privateKey]), undefined);
    assert.equal(jweDecrypt(skopeoJwe('both'), []), undefined);
  });

  it('anything altered fails authentication (GCM): ciphertext, tag, IV, protected header, encrypted key', () => {
    const base = JSON.parse(skopeoJwe('ec')) as Record<string, string>;
    const flip = (s: string, i = 2) => {
      const b = Buffer.from(s, 'base64url');
      b[i]! ^= 1;
      return b.toString('base64url');
    };
    for (const field of ['ciphertext', 'tag', 'iv', 'encrypted_key']) {
      const altered = JSON.stringify({ ...base, [field]: flip(base[field]!) });
      assert.equal(jweDecrypt(altered, [ecKey]), undefined, field);
    }
    // A protected header that still parses but differs (the AAD) fails too.
    const header = unb64u(base.protected!);
    const reordered = Buffer.from(
      JSON.stringify({ enc: header.enc, alg: header.alg, epk: header.epk }),
    ).toString('base64url');
    assert.equal(jweDecrypt(JSON.stringify({ ...base, protected: reordered }), [ecKey]), undefined);
  });
});

describe('parseJwe and jweDecrypt refuse what ocicrypt never writes', () => {
  const good = JSON.parse(jweEncrypt(Buffer.from('x'), [recipient(p256.publicKey)])) as Record<
    string,
    string
  >;
  const withHeader = (h: Record<string, unknown>) =>
    JSON.stringify({ ...good, protected: Buffer.from(JSON.stringify(h)).toString('base64url') });
  const header = unb64u(good.protected!);
  const cases: [string, string, RegExp][] = [
    ['not JSON', 'eyJ', /not JSON/],
    ['a JSON array', '[]', /not a JSON object/],
    ['a compact serialization', 'a.b.c.d.e', /not JSON/],
    [
      'a protected header that is not JSON',
      JSON.stringify({ ...good, protected: 'bm9wZQ' }),
      /protected header/,
    ],
    ['another content encryption', withHeader({ ...header, enc: 'A128GCM' }), /A128GCM is not A256GCM/],
    ['another key algorithm', withHeader({ ...header, alg: 'RSA1_5' }), /RSA1_5 is neither/],
    ['direct ECDH-ES', withHeader({ ...header, alg: 'ECDH-ES' }), /ECDH-ES is neither/],
    ['compression', withHeader({ ...header, zip: 'DEF' }), /zip/],
    ['padded base64', JSON.stringify({ ...good, iv: `${good.iv}=` }), /iv is not base64url/],
    [
      'standard base64',
      JSON.stringify({ ...good, tag: good.tag!.replace(/.$/, '+') }),
      /tag is not base64url/,
    ],
    [
      'a short tag',
      JSON.stringify({ ...good, tag: Buffer.alloc(8).toString('base64url') }),
      /tag is 8 bytes/,
    ],
    ['a long IV', JSON.stringify({ ...good, iv: Buffer.alloc(16).toString('base64url') }), /iv is 16 bytes/],
    ['no iv', JSON.stringify({ ...good, iv: undefined }), /iv is not base64url/],
  ];
  for (const [name, json, why] of cases)
    it(`refuses ${name}`, () => {
      assert.throws(
        () => jweDecrypt(json, [p256.privateKey]),
        (e: Error) => e instanceof KeyError && why.test(e.message),
      );
    });

  it('reads both serializations into per-recipient merged headers', () => {
    const flat = parseJwe(skopeoJwe('ec'));
    assert.equal(flat.recipients.length, 1);
    assert.equal(flat.recipients[0]!.header.alg, ALG_EC);
    assert.equal(flat.recipients[0]!.header.enc, 'A256GCM');
    const general = parseJwe(skopeoJwe('both'));
    assert.deepEqual(
      general.recipients.map((r) => [r.header.alg, r.header.enc]),
      [
        [ALG_RSA, 'A256GCM'],
        [ALG_EC, 'A256GCM'],
      ],
    );
  });

  it('an epk on another curve, or one carrying a private part, is not used', () => {
    const json = jweEncrypt(Buffer.from('x'), [recipient(p384.publicKey)]);
    assert.equal(jweDecrypt(json, [p256.privateKey]), undefined);
    const eph = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const leaky = { ...header, epk: eph.export({ format: 'jwk' }) };
    assert.equal(jweDecrypt(withHeader(leaky), [p256.privateKey]), undefined);
  });
});

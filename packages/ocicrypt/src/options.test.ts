import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyError } from './keys.js';
import {
  ANNOTATION_PUBOPTS,
  LAYER_CIPHER,
  decryptedMediaType,
  encryptedMediaType,
  isEncryptedMediaType,
  parsePrivateOptions,
  parsePublicOptions,
  privateOptionsJson,
  publicOptionsJson,
} from './options.js';
import { SKOPEO_ANNOTATIONS } from './skopeo-fixtures.test-support.js';

const key = Buffer.alloc(32, 0xab);
const nonce = Buffer.alloc(16, 0xcd);
const hmac = Buffer.alloc(32, 0xef);
const digest = `sha256:${'0'.repeat(63)}1`;

describe('the option documents, as go json.Marshal writes ocicrypt structs', () => {
  it('private: symkey, digest, cipheroptions.nonce, standard padded base64', () => {
    assert.equal(
      privateOptionsJson({ symkey: key, digest, nonce }),
      `{"symkey":"${key.toString('base64')}","digest":"${digest}","cipheroptions":{"nonce":"${nonce.toString('base64')}"}}`,
    );
    assert.match(key.toString('base64'), /=$/, 'the fixture exercises padding');
  });

  it('public: cipher, hmac, and an empty cipheroptions', () => {
    assert.equal(
      publicOptionsJson({ cipher: LAYER_CIPHER, hmac }),
      `{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":"${hmac.toString('base64')}","cipheroptions":{}}`,
    );
  });

  it("skopeo's public options re-serialize here byte for byte", () => {
    for (const which of ['rsa', 'ec', 'both'] as const) {
      const theirs = Buffer.from(SKOPEO_ANNOTATIONS[which][ANNOTATION_PUBOPTS]!, 'base64').toString('utf8');
      assert.equal(publicOptionsJson(parsePublicOptions(theirs)), theirs);
    }
  });

  it('round trips', () => {
    const p = parsePrivateOptions(privateOptionsJson({ symkey: key, digest, nonce }));
    assert.deepEqual(p, { symkey: key, digest, nonce });
    assert.deepEqual(parsePublicOptions(publicOptionsJson({ cipher: LAYER_CIPHER, hmac })), {
      cipher: LAYER_CIPHER,
      hmac,
    });
  });
});

describe('parsing refuses options a layer cannot be decrypted or checked with', () => {
  const priv = (o: Record<string, unknown>) =>
    JSON.stringify({
      symkey: key.toString('base64'),
      digest,
      cipheroptions: { nonce: nonce.toString('base64') },
      ...o,
    });
  const privCases: [string, string, RegExp][] = [
    ['not JSON', '{', /not JSON/],
    ['not an object', '"x"', /not a JSON object/],
    ['a 16-byte key', priv({ symkey: Buffer.alloc(16).toString('base64') }), /16 bytes; AES-256 takes 32/],
    ['no key', priv({ symkey: undefined }), /symkey\) is not base64/],
    ['a key in base64url', priv({ symkey: Buffer.alloc(32, 0xff).toString('base64url') }), /not base64/],
    ['a key without padding', priv({ symkey: key.toString('base64').replace(/=+$/, '') }), /not base64/],
    ['no nonce', priv({ cipheroptions: {} }), /nonce is not base64/],
    ['a 12-byte nonce', priv({ cipheroptions: { nonce: Buffer.alloc(12).toString('base64') } }), /12 bytes/],
    ['no digest', priv({ digest: undefined }), /no sha256 digest/],
    ['an empty digest', priv({ digest: '' }), /no sha256 digest/],
    ['a sha512 digest', priv({ digest: `sha512:${'a'.repeat(128)}` }), /no sha256 digest/],
    ['an upper-case digest', priv({ digest: digest.toUpperCase() }), /no sha256 digest/],
  ];
  for (const [name, json, why] of privCases)
    it(`private options: ${name}`, () => {
      assert.throws(
        () => parsePrivateOptions(json),
        (e: Error) => e instanceof KeyError && why.test(e.message),
      );
    });

  it('private options: extra fields of newer ocicrypt (previouslayersdigest) are ignored', () => {
    assert.equal(parsePrivateOptions(priv({ previouslayersdigest: digest })).digest, digest);
  });

  const pub = (o: Record<string, unknown>) =>
    JSON.stringify({ cipher: LAYER_CIPHER, hmac: hmac.toString('base64'), cipheroptions: {}, ...o });
  const pubCases: [string, string, RegExp][] = [
    ['another cipher', pub({ cipher: 'AES_256_GCM' }), /"AES_256_GCM", not AES_256_CTR_HMAC_SHA256/],
    ['no cipher (ocicrypt: "no cipher type provided")', pub({ cipher: undefined }), /undefined, not/],
    ['no HMAC', pub({ hmac: null }), /HMAC is not base64/],
    ['a short HMAC', pub({ hmac: Buffer.alloc(20).toString('base64') }), /20 bytes; HMAC-SHA256 gives 32/],
  ];
  for (const [name, json, why] of pubCases)
    it(`public options: ${name}`, () => {
      assert.throws(
        () => parsePublicOptions(json),
        (e: Error) => e instanceof KeyError && why.test(e.message),
      );
    });

  it("public options: early ocicrypt's cipheroptions.hmac is read when hmac is absent", () => {
    const early = JSON.stringify({
      cipher: LAYER_CIPHER,
      hmac: null,
      cipheroptions: { hmac: hmac.toString('base64') },
    });
    assert.deepEqual(parsePublicOptions(early).hmac, hmac);
  });
});

describe('media types', () => {
  it('adds, recognises and removes +encrypted', () => {
    const tar = 'application/vnd.oci.image.layer.v1.tar';
    assert.equal(encryptedMediaType(tar), `${tar}+encrypted`);
    assert.equal(encryptedMediaType(`${tar}+encrypted`), `${tar}+encrypted`);
    assert.equal(encryptedMediaType(`${tar}+gzip`), `${tar}+gzip+encrypted`);
    assert.ok(isEncryptedMediaType(`${tar}+zstd+encrypted`));
    assert.ok(!isEncryptedMediaType(tar));
    assert.equal(decryptedMediaType(`${tar}+gzip+encrypted`), `${tar}+gzip`);
    assert.equal(decryptedMediaType(tar), tar);
  });
});

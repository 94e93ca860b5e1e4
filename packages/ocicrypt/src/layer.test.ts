import assert from 'node:assert/strict';
import {
  createCipheriv,
  createHash,
  createHmac,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { jweDecrypt, type JweRandom } from './jwe.js';
import { KeyError, parseRecipientKey, type RecipientKey } from './keys.js';
import {
  IntegrityError,
  LayerDecryptor,
  LayerEncryptor,
  decryptLayer,
  openLayer,
  type EncryptedLayer,
} from './layer.js';
import { ANNOTATION_JWE, ANNOTATION_PUBOPTS, LAYER_CIPHER, parsePrivateOptions } from './options.js';

const recipient = (k: KeyObject): RecipientKey =>
  parseRecipientKey(k.export({ type: 'spki', format: 'pem' }) as string);
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** Feeds `data` in chunks of the given sizes (cycled), collects the output. */
async function run(t: NodeJS.ReadWriteStream, data: Buffer, sizes = [65536]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let at = 0;
  let i = 0;
  const parts: Buffer[] = [];
  while (at < data.length) {
    const n = sizes[i++ % sizes.length]!;
    parts.push(data.subarray(at, at + n));
    at += n;
  }
  await pipeline(
    Readable.from(parts),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(chunks);
}

async function encrypt(
  data: Buffer,
  recipients: RecipientKey[],
  random?: JweRandom,
  sizes?: number[],
): Promise<{ ciphertext: Buffer; result: EncryptedLayer }> {
  const enc = new LayerEncryptor(recipients, random);
  const ciphertext = await run(enc, data, sizes);
  return { ciphertext, result: enc.result() };
}

const decode = (b64: string) =>
  JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as Record<string, unknown>;

describe('LayerEncryptor: AES_256_CTR_HMAC_SHA256 as ocicrypt computes it', () => {
  const data = randomBytes(300_000);

  it('ciphertext is AES-256-CTR under the layer key and nonce; the HMAC is HMAC-SHA256(key) of the ciphertext', async () => {
    const { ciphertext, result } = await encrypt(data, [recipient(p256.publicKey)]);
    const opts = parsePrivateOptions(
      jweDecrypt(Buffer.from(result.annotations[ANNOTATION_JWE], 'base64').toString(), [
        p256.privateKey,
      ])!.toString(),
    );
    const c = createCipheriv('aes-256-ctr', opts.symkey, opts.nonce);
    assert.deepEqual(ciphertext, Buffer.concat([c.update(data), c.final()]));
    const pub = decode(result.annotations[ANNOTATION_PUBOPTS]);
    assert.deepEqual(pub, {
      cipher: LAYER_CIPHER,
      hmac: createHmac('sha256', opts.symkey).update(ciphertext).digest('base64'),
      cipheroptions: {},
    });
    const plainDigest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    assert.equal(opts.digest, plainDigest);
    assert.equal(result.plaintextDigest, plainDigest);
    assert.equal(result.size, data.length);
    assert.equal(ciphertext.length, data.length, 'CTR: the ciphertext has the layer size');
  });

  it('the annotations are exactly the JWE and the public options, in standard padded base64', async () => {
    const { result } = await encrypt(data, [recipient(rsa.publicKey), recipient(p256.publicKey)]);
    assert.deepEqual(Object.keys(result.annotations), [ANNOTATION_JWE, ANNOTATION_PUBOPTS]);
    for (const v of Object.values(result.annotations)) assert.match(v, /^[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(Buffer.from(result.annotations[ANNOTATION_JWE], 'base64').toString()[0], '{');
    assert.ok(!result.annotations[ANNOTATION_JWE].includes(','), 'one JWE for every recipient');
    assert.deepEqual(result.recipients, [
      recipient(rsa.publicKey).fingerprint,
      recipient(p256.publicKey).fingerprint,
    ]);
  });

  it('takes the key and nonce from its random source, fresh per layer', async () => {
    let n = 0;
    const random: JweRandom = {
      bytes: (len) => Buffer.alloc(len, ++n),
      ephemeral: (c) => generateKeyPairSync('ec', { namedCurve: c }).privateKey,
    };
    const { ciphertext } = await encrypt(data, [recipient(p256.publicKey)], random);
    const c = createCipheriv('aes-256-ctr', Buffer.alloc(32, 1), Buffer.alloc(16, 2));
    assert.deepEqual(ciphertext, c.update(data));
    const a = await encrypt(data, [recipient(p256.publicKey)]);
    const b = await encrypt(data, [recipient(p256.publicKey)]);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  it('the counter runs across the whole stream: chunk sizes change nothing, a nonce near wrap-around included', async () => {
    const random: JweRandom = {
      // The same key each time; the nonce's low 72 bits all ones, so the 128-bit counter carries within a block.
      bytes: (len) =>
        len === 16 ? Buffer.from('00000000000000ffffffffffffffffff', 'hex') : Buffer.alloc(len, 9),
      ephemeral: (c) => generateKeyPairSync('ec', { namedCurve: c }).privateKey,
    };
    const whole = await encrypt(data, [recipient(p256.publicKey)], random, [data.length]);
    // Go's cipher.NewCTR increments the whole 16-byte block as one big-endian number: so must we.
    const ecb = createCipheriv('aes-256-ecb', Buffer.alloc(32, 9), null).setAutoPadding(false);
    let counter = BigInt('0x00000000000000ffffffffffffffffff');
    const keystream = Buffer.concat(
      Array.from({ length: 4 }, () => {
        const block = Buffer.from((counter++).toString(16).padStart(32, '0'), 'hex');
        return ecb.update(block);
      }),
    );
    assert.deepEqual(
      whole.ciphertext.subarray(0, 64),
      Buffer.from(data.subarray(0, 64).map((b, i) => b ^ keystream[i]!)),
    );
    for (const sizes of [[1], [15, 17, 16], [4096, 1, 65535], [0, 7, 100_000]]) {
      const small = sizes[0] === 1 ? data.subarray(0, 5000) : data;
      const ref = sizes[0] === 1 ? whole.ciphertext.subarray(0, 5000) : whole.ciphertext;
      const got = await encrypt(
        small,
        [recipient(p256.publicKey)],
        random,
        sizes.filter((s) => s > 0),
      );
      assert.deepEqual(got.ciphertext, ref, `chunks ${sizes.join(',')}`);
    }
  });

  it('an empty layer: no ciphertext, the HMAC and digest of nothing', async () => {
    const { ciphertext, result } = await encrypt(Buffer.alloc(0), [recipient(p256.publicKey)]);
    assert.equal(ciphertext.length, 0);
    assert.equal(result.plaintextDigest, `sha256:${createHash('sha256').digest('hex')}`);
    const opened = openLayer(result.annotations, [p256.privateKey])!;
    assert.deepEqual(opened.public.hmac, createHmac('sha256', opened.private.symkey).digest());
  });

  it('result() before the end is an error; no recipients is an error', () => {
    assert.throws(() => new LayerEncryptor([recipient(p256.publicKey)]).result(), /not encrypted to the end/);
    assert.throws(() => new LayerEncryptor([]), KeyError);
  });

  it('streams: 32 MiB through in chunks without holding it', async () => {
    const enc = new LayerEncryptor([recipient(p256.publicKey)]);
    const chunk = randomBytes(1 << 20);
    const hash = createHash('sha256');
    let out = 0;
    await pipeline(
      Readable.from(
        (function* () {
          for (let i = 0; i < 32; i++) {
            hash.update(chunk);
            yield chunk;
          }
        })(),
      ),
      enc,
      new Writable({
        write(c: Buffer, _e, cb) {
          out += c.length;
          cb();
        },
      }),
    );
    assert.equal(out, 32 << 20);
    assert.equal(enc.result().plaintextDigest, `sha256:${hash.digest('hex')}`);
  });
});

describe('LayerDecryptor: AES-CTR back, HMAC and digest checked at the end', () => {
  const data = randomBytes(200_003);

  it('round trip with each recipient, in any chunking', async () => {
    const { ciphertext, result } = await encrypt(data, [recipient(rsa.publicKey), recipient(p256.publicKey)]);
    for (const [k, sizes] of [
      [rsa.privateKey, [65536]],
      [p256.privateKey, [1, 333, 4096]],
    ] as const) {
      const d = decryptLayer(result.annotations, [k]);
      assert.deepEqual(await run(d, ciphertext, [...sizes]), data);
      assert.deepEqual(d.result(), {
        digest: result.plaintextDigest,
        size: data.length,
        recordedDigest: result.plaintextDigest,
      });
    }
  });

  it('one flipped bit anywhere, a truncated or an extended ciphertext: IntegrityError (HMAC)', async () => {
    const { ciphertext, result } = await encrypt(data, [recipient(p256.publicKey)]);
    const variants: [string, Buffer][] = [
      ['first byte', Buffer.from(ciphertext).fill(ciphertext[0]! ^ 1, 0, 1)],
      ['last byte', Buffer.from(ciphertext).fill(ciphertext.at(-1)! ^ 0x80, ciphertext.length - 1)],
      ['truncated', ciphertext.subarray(0, ciphertext.length - 1)],
      ['extended', Buffer.concat([ciphertext, Buffer.from([0])])],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [name, bytes] of variants)
      await assert.rejects(
        run(decryptLayer(result.annotations, [p256.privateKey]), bytes),
        (e: Error) => e instanceof IntegrityError && /fails its HMAC/.test(e.message),
        name,
      );
  });

  it('a right HMAC over a plaintext whose digest is not the recorded one: IntegrityError, unless told not to check', async () => {
    const { ciphertext, result } = await encrypt(data, [recipient(p256.publicKey)]);
    const opened = openLayer(result.annotations, [p256.privateKey])!;
    const lying = { ...opened, private: { ...opened.private, digest: `sha256:${'1'.repeat(64)}` } };
    await assert.rejects(run(new LayerDecryptor(lying), ciphertext), /recorded sha256:1111/);
    const d = new LayerDecryptor(lying, { checkDigest: false });
    assert.deepEqual(await run(d, ciphertext), data);
    assert.equal(d.result().recordedDigest, `sha256:${'1'.repeat(64)}`);
  });

  it('result() before the end is an error', () => {
    return encrypt(data, [recipient(p256.publicKey)]).then(({ result }) => {
      assert.throws(() => decryptLayer(result.annotations, [p256.privateKey]).result(), /not decrypted/);
    });
  });
});

describe('openLayer and decryptLayer: which key opens a layer', () => {
  it('undefined for keys that are no recipient; a KeyError from decryptLayer naming that', async () => {
    const { result } = await encrypt(Buffer.from('x'), [recipient(p256.publicKey)]);
    assert.equal(openLayer(result.annotations, [other.privateKey, rsa.privateKey]), undefined);
    assert.throws(
      () => decryptLayer(result.annotations, [other.privateKey]),
      /none of the 1 private key\(s\) given is a recipient/,
    );
    assert.throws(() => decryptLayer(result.annotations, []), /no private key given/);
  });

  it('several comma-separated JWEs (an image encrypted again for more recipients): any one opens it', async () => {
    const a = await encrypt(Buffer.from('layer'), [recipient(rsa.publicKey)]);
    const b = await encrypt(Buffer.from('layer'), [recipient(p256.publicKey)]);
    const both = {
      ...a.result.annotations,
      [ANNOTATION_JWE]: `${a.result.annotations[ANNOTATION_JWE]},${b.result.annotations[ANNOTATION_JWE]}`,
    };
    assert.ok(openLayer(both, [p256.privateKey]));
    assert.ok(openLayer(both, [rsa.privateKey]));
  });

  it('refuses layers without the annotations, or with malformed ones', async () => {
    const { result } = await encrypt(Buffer.from('x'), [recipient(p256.publicKey)]);
    const keys = [p256.privateKey];
    assert.throws(() => openLayer(undefined, keys), /no org\.opencontainers\.image\.enc\.keys\.jwe/);
    assert.throws(
      () => openLayer({ [ANNOTATION_PUBOPTS]: result.annotations[ANNOTATION_PUBOPTS] }, keys),
      /keys\.jwe/,
    );
    assert.throws(() => openLayer({ [ANNOTATION_JWE]: result.annotations[ANNOTATION_JWE] }, keys), /pubopts/);
    assert.throws(
      () => openLayer({ ...result.annotations, [ANNOTATION_JWE]: 'not base64!' }, keys),
      /not base64/,
    );
    assert.throws(
      () =>
        openLayer(
          { ...result.annotations, [ANNOTATION_PUBOPTS]: Buffer.from('{"cipher":"X"}').toString('base64') },
          keys,
        ),
      /"X", not AES_256_CTR_HMAC_SHA256/,
    );
  });
});

// suite: shares — skopeo on OCI layouts in a temporary directory of its own
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { IntegrityError, LayerEncryptor, decryptLayer, openLayer } from './layer.js';
import { ANNOTATION_JWE, ANNOTATION_PUBOPTS } from './options.js';
import {
  MEDIA_TAR,
  makeKey,
  makeTar,
  readImage,
  skopeo,
  skopeoStatus,
  streamBlob,
  writeImage,
  writePlainImage,
  type TestKey,
} from './oci-layout.test-support.js';

/**
 * Interoperability with ocicrypt itself, through Debian's skopeo (1.9.3, containers/image + ocicrypt + go-jose v2):
 * layers this package encrypts are decrypted by skopeo byte for byte, and layers skopeo encrypts are decrypted here.
 */

const tmp = mkdtempSync(join(tmpdir(), 'ocicrypt-skopeo-'));
let n = 0;
const dir = (what: string) => join(tmp, `${what}-${++n}`);
// skopeo writes an uncompressed layer as it is only with this flag (by default the oci transport gzips it).
const KEEP_TAR = '--dest-oci-accept-uncompressed-layers';

let keys: Record<string, TestKey>;
let tar: string;

/** Our encryption of `tar` for `recipients` into a new layout; its directory. */
async function encryptWithUs(recipients: TestKey[]): Promise<string> {
  const d = dir('ours');
  const enc = new LayerEncryptor(recipients.map((k) => k.recipient));
  const blob = await streamBlob(d, tar, enc);
  const r = enc.result();
  writeImage(
    d,
    { mediaType: `${MEDIA_TAR}+encrypted`, ...blob, annotations: r.annotations },
    r.plaintextDigest,
    { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'app' },
  );
  return d;
}

describe('ocicrypt interoperability with skopeo', () => {
  before(() => {
    keys = {
      rsa2048: makeKey(tmp, 'rsa2048', { rsa: 2048 }),
      rsa4096: makeKey(tmp, 'rsa4096', { rsa: 4096 }),
      p256: makeKey(tmp, 'p256', { curve: 'P-256' }),
      p384: makeKey(tmp, 'p384', { curve: 'P-384' }),
      p521: makeKey(tmp, 'p521', { curve: 'P-521' }),
      other: makeKey(tmp, 'other', { curve: 'P-256' }),
    };
    tar = makeTar(tmp, 'archive', 3 * 1024 * 1024 + 17);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const name of ['rsa2048', 'rsa4096', 'p256', 'p384', 'p521']) {
    it(`${name}: skopeo --decryption-key gives back the archive byte for byte; without the key it stays ciphertext, with another it fails`, async () => {
      const key = keys[name]!;
      const enc = await encryptWithUs([key]);
      const mine = readImage(enc);
      const layer = mine.manifest.layers[0]!;
      assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+encrypted');
      assert.deepEqual(Object.keys(layer.annotations ?? {}).sort(), [ANNOTATION_JWE, ANNOTATION_PUBOPTS]);
      assert.notDeepEqual(readFileSync(mine.blob(layer.digest)), readFileSync(tar));

      const dec = dir('dec');
      skopeo([
        'copy',
        '-q',
        KEEP_TAR,
        '--decryption-key',
        key.privatePem,
        `oci:${enc}:latest`,
        `oci:${dec}:latest`,
      ]);
      const out = readImage(dec);
      const plain = out.manifest.layers[0]!;
      assert.equal(plain.mediaType, MEDIA_TAR);
      assert.equal(plain.annotations, undefined, 'the encryption annotations are gone');
      assert.ok(readFileSync(out.blob(plain.digest)).equals(readFileSync(tar)), 'identical to the archive');
      assert.equal(out.config.rootfs.diff_ids[0], plain.digest);

      // No key: skopeo copies the ciphertext as it is (no error); it is not the archive.
      const copied = dir('nokey');
      skopeo(['copy', '-q', KEEP_TAR, `oci:${enc}:latest`, `oci:${copied}:latest`]);
      const still = readImage(copied).manifest.layers[0]!;
      assert.equal(still.mediaType, `${MEDIA_TAR}+encrypted`);
      assert.ok(!readFileSync(readImage(copied).blob(still.digest)).equals(readFileSync(tar)));

      // A key that is not a recipient: decryption fails.
      const wrong = skopeoStatus([
        'copy',
        '-q',
        KEEP_TAR,
        '--decryption-key',
        keys.other!.privatePem,
        `oci:${enc}:latest`,
        `oci:${dir('wrong')}:latest`,
      ]);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /decrypt|no suitable key|private key/i);
    });
  }

  it('several recipients in one JWE (RSA and EC): each private key alone decrypts with skopeo', async () => {
    const enc = await encryptWithUs([keys.rsa2048!, keys.p256!, keys.p384!]);
    for (const k of [keys.rsa2048!, keys.p256!, keys.p384!]) {
      const dec = dir('multi');
      skopeo([
        'copy',
        '-q',
        KEEP_TAR,
        '--decryption-key',
        k.privatePem,
        `oci:${enc}:latest`,
        `oci:${dec}:latest`,
      ]);
      const out = readImage(dec);
      assert.ok(readFileSync(out.blob(out.manifest.layers[0]!.digest)).equals(readFileSync(tar)), k.name);
    }
  });

  it('a ciphertext altered by one bit fails skopeo (HMAC), as it fails here', async () => {
    const enc = await encryptWithUs([keys.p256!]);
    const img = readImage(enc);
    const layer = img.manifest.layers[0]!;
    const bytes = readFileSync(img.blob(layer.digest));
    bytes[bytes.length >> 1]! ^= 1;
    // Keep the layout consistent (the blob under its new digest), so only the HMAC can tell.
    const altered = dir('altered');
    const passthrough = new PassThrough();
    const src = join(tmp, 'altered.bin');
    writeFileSync(src, bytes);
    const blob = await streamBlob(altered, src, passthrough);
    writeImage(altered, { ...layer, ...blob }, img.config.rootfs.diff_ids[0]!);
    const r = skopeoStatus([
      'copy',
      '-q',
      KEEP_TAR,
      '--decryption-key',
      keys.p256!.privatePem,
      `oci:${altered}:latest`,
      `oci:${dir('x')}:latest`,
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /hmac/i);
    const ours = decryptLayer(layer.annotations, [keys.p256!.privateKey]);
    await assert.rejects(pipeline(createReadStream(src), ours, new PassThrough().resume()), IntegrityError);
  });

  for (const name of ['rsa2048', 'rsa4096', 'p256', 'p384', 'p521']) {
    it(`${name}: an image skopeo encrypted (--encryption-key jwe:) is decrypted here, HMAC and digest checked`, async () => {
      const key = keys[name]!;
      const plain = dir('plain');
      writePlainImage(plain, tar);
      const enc = dir('skopeo-enc');
      skopeo([
        'copy',
        '-q',
        KEEP_TAR,
        '--encryption-key',
        `jwe:${key.publicPem}`,
        `oci:${plain}:latest`,
        `oci:${enc}:latest`,
      ]);
      const img = readImage(enc);
      const layer = img.manifest.layers[0]!;
      assert.equal(layer.mediaType, `${MEDIA_TAR}+encrypted`);
      assert.equal(
        openLayer(layer.annotations, [keys.other!.privateKey]),
        undefined,
        'another key does not open it',
      );
      const d = decryptLayer(layer.annotations, [keys.other!.privateKey, key.privateKey]);
      const chunks: Buffer[] = [];
      await pipeline(
        createReadStream(img.blob(layer.digest), { highWaterMark: 64 * 1024 }),
        d,
        async (src) => {
          for await (const c of src) chunks.push(c as Buffer);
        },
      );
      assert.ok(Buffer.concat(chunks).equals(readFileSync(tar)));
      assert.equal(d.result().digest, img.config.rootfs.diff_ids[0]);

      // The same blob with one bit flipped: the HMAC check fails at the end of the stream.
      const bytes = readFileSync(img.blob(layer.digest));
      bytes[7]! ^= 0x80;
      const src = join(tmp, `flipped-${name}.bin`);
      writeFileSync(src, bytes);
      await assert.rejects(
        pipeline(
          createReadStream(src),
          decryptLayer(layer.annotations, [key.privateKey]),
          new PassThrough().resume(),
        ),
        (e: Error) => e instanceof IntegrityError && /HMAC/.test(e.message),
      );
    });
  }

  it('skopeo compresses before encrypting by default (tar+gzip+encrypted): HMAC checked, the recorded digest is the uncompressed source', async () => {
    const key = keys.p256!;
    const plain = dir('plain');
    writePlainImage(plain, tar);
    const enc = dir('skopeo-gz');
    skopeo([
      'copy',
      '-q',
      '--encryption-key',
      `jwe:${key.publicPem}`,
      `oci:${plain}:latest`,
      `oci:${enc}:latest`,
    ]);
    const img = readImage(enc);
    const layer = img.manifest.layers[0]!;
    assert.equal(layer.mediaType, `${MEDIA_TAR}+gzip+encrypted`);
    const d = decryptLayer(layer.annotations, [key.privateKey], { checkDigest: false });
    const chunks: Buffer[] = [];
    await pipeline(createReadStream(img.blob(layer.digest)), d, async (src) => {
      for await (const c of src) chunks.push(c as Buffer);
    });
    assert.ok(gunzipSync(Buffer.concat(chunks)).equals(readFileSync(tar)));
    assert.equal(d.result().recordedDigest, img.config.rootfs.diff_ids[0]);
    assert.notEqual(d.result().digest, d.result().recordedDigest);
  });
});

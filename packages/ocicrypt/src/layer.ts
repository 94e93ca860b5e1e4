import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  timingSafeEqual,
  type Cipher,
  type Decipher,
  type Hash,
  type Hmac,
  type KeyObject,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { jweDecrypt, jweEncrypt, systemRandom, type JweRandom } from './jwe.js';
import { KeyError, type RecipientKey } from './keys.js';
import {
  ANNOTATION_JWE,
  ANNOTATION_PUBOPTS,
  LAYER_CIPHER,
  fromStdB64,
  parsePrivateOptions,
  parsePublicOptions,
  privateOptionsJson,
  publicOptionsJson,
  type PrivateOptions,
  type PublicOptions,
} from './options.js';

/** What an encrypted layer's descriptor needs once the whole layer went through the encryptor. */
export interface EncryptedLayer {
  /** The descriptor annotations: the wrapped keys (JWE) and the public options. */
  annotations: { [ANNOTATION_JWE]: string; [ANNOTATION_PUBOPTS]: string };
  /** sha256:<hex> of the layer before encryption: the image config's diff_id. */
  plaintextDigest: string;
  /** Bytes encrypted (AES-CTR: also the ciphertext's size). */
  size: number;
  /** The recipients' key fingerprints (sha256 of their SubjectPublicKeyInfo), in the order given. */
  recipients: string[];
}

/**
 * Encrypts a layer as it streams through, in ocicrypt's AES_256_CTR_HMAC_SHA256 (blockcipher_aes_ctr.go): a fresh
 * random 32-byte key and 16-byte nonce per layer; AES-256-CTR over the bytes; HMAC-SHA256, keyed with the same
 * key, over the ciphertext; the digest of the plaintext. At the end the private options (key, plaintext digest,
 * nonce) are wrapped for every recipient in one JWE, and `result()` gives the descriptor's annotations. The caller
 * hashes what comes out for the blob's own digest. One pass; memory does not grow with the layer.
 */
export class LayerEncryptor extends Transform {
  readonly #recipients: RecipientKey[];
  readonly #random: JweRandom;
  #key: Buffer;
  readonly #nonce: Buffer;
  readonly #cipher: Cipher;
  readonly #hmac: Hmac;
  readonly #plain: Hash = createHash('sha256');
  #size = 0;
  #result: EncryptedLayer | undefined;

  constructor(recipients: RecipientKey[], random: JweRandom = systemRandom) {
    super();
    if (recipients.length === 0) throw new KeyError('no recipients to encrypt the layer for');
    this.#recipients = recipients;
    this.#random = random;
    this.#key = random.bytes(32);
    this.#nonce = random.bytes(16);
    this.#cipher = createCipheriv('aes-256-ctr', this.#key, this.#nonce);
    this.#hmac = createHmac('sha256', this.#key);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#plain.update(chunk);
    this.#size += chunk.length;
    const out = this.#cipher.update(chunk);
    this.#hmac.update(out);
    cb(null, out);
  }

  override _flush(cb: TransformCallback): void {
    try {
      const tail = this.#cipher.final(); // empty for CTR; kept for form
      if (tail.length) {
        this.#hmac.update(tail);
        this.push(tail);
      }
      const plaintextDigest = `sha256:${this.#plain.digest('hex')}`;
      const privateOpts = Buffer.from(
        privateOptionsJson({ symkey: this.#key, digest: plaintextDigest, nonce: this.#nonce }),
      );
      const jwe = jweEncrypt(privateOpts, this.#recipients, this.#random);
      privateOpts.fill(0);
      this.#result = {
        annotations: {
          [ANNOTATION_JWE]: Buffer.from(jwe).toString('base64'),
          [ANNOTATION_PUBOPTS]: Buffer.from(
            publicOptionsJson({ cipher: LAYER_CIPHER, hmac: this.#hmac.digest() }),
          ).toString('base64'),
        },
        plaintextDigest,
        size: this.#size,
        recipients: this.#recipients.map((r) => r.fingerprint),
      };
      this.#forget();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.#forget();
    cb(err);
  }

  #forget(): void {
    this.#key.fill(0);
    this.#key = Buffer.alloc(0);
  }

  /** The descriptor's annotations and digests; only once the stream has been flushed. */
  result(): EncryptedLayer {
    if (!this.#result) throw new Error('the layer is not encrypted to the end yet');
    return this.#result;
  }
}

/** The options of an encrypted layer, unwrapped with a private key. */
export interface OpenedLayer {
  private: PrivateOptions;
  public: PublicOptions;
}

/**
 * Unwraps an encrypted layer's options with the first private key that opens one of its JWEs (ocicrypt's
 * `DecryptLayer(..., unwrapOnly)`), or undefined when none does; throws a KeyError when the annotations are not
 * ocicrypt's JWE scheme or are malformed. Reads no layer bytes: "could this node decrypt it?".
 */
export function openLayer(
  annotations: Record<string, string> | undefined,
  keys: KeyObject[],
): OpenedLayer | undefined {
  const wrapped = annotations?.[ANNOTATION_JWE];
  if (!wrapped) throw new KeyError(`the layer has no ${ANNOTATION_JWE} annotation (not encrypted with JWE)`);
  const pubopts = annotations?.[ANNOTATION_PUBOPTS];
  if (!pubopts) throw new KeyError(`the layer has no ${ANNOTATION_PUBOPTS} annotation`);
  const publicOpts = parsePublicOptions(fromStdB64(pubopts, ANNOTATION_PUBOPTS).toString('utf8'));
  // Several JWEs when an image was encrypted again for more recipients (ocicrypt appends, comma-separated).
  for (const one of wrapped.split(',')) {
    const opened = jweDecrypt(fromStdB64(one, ANNOTATION_JWE).toString('utf8'), keys);
    if (opened) {
      try {
        return { private: parsePrivateOptions(opened.toString('utf8')), public: publicOpts };
      } finally {
        opened.fill(0);
      }
    }
  }
  return undefined;
}

/** A layer that fails its HMAC or digest check: altered, or not the one its annotations describe. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

export interface DecryptOptions {
  /**
   * Also check that the plaintext's digest is the one the private options carry. ocicrypt records the *source*
   * descriptor's digest there, so for a layer containers/image compressed before encrypting (tar+gzip+encrypted
   * from an uncompressed source) it is the digest after decompression. @default true
   */
  checkDigest?: boolean;
}

/**
 * Decrypts an encrypted layer as it streams through: AES-256-CTR, and HMAC-SHA256 of the ciphertext compared (in
 * constant time) at the end, then the plaintext's digest. A mismatch ends the stream with an IntegrityError: what
 * was already passed on must be discarded. Nothing read from the stream is trustworthy before it ends without error.
 */
export class LayerDecryptor extends Transform {
  readonly #decipher: Decipher;
  readonly #hmac: Hmac;
  readonly #expectedHmac: Buffer;
  readonly #expectedDigest: string;
  readonly #checkDigest: boolean;
  readonly #plain: Hash = createHash('sha256');
  #size = 0;
  #digest: string | undefined;

  constructor(opened: OpenedLayer, o: DecryptOptions = {}) {
    super();
    this.#decipher = createDecipheriv('aes-256-ctr', opened.private.symkey, opened.private.nonce);
    this.#hmac = createHmac('sha256', opened.private.symkey);
    this.#expectedHmac = opened.public.hmac;
    this.#expectedDigest = opened.private.digest;
    this.#checkDigest = o.checkDigest ?? true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hmac.update(chunk);
    const out = this.#decipher.update(chunk);
    this.#plain.update(out);
    this.#size += out.length;
    cb(null, out);
  }

  override _flush(cb: TransformCallback): void {
    const tail = this.#decipher.final();
    if (tail.length) {
      this.#plain.update(tail);
      this.push(tail);
    }
    const hmac = this.#hmac.digest();
    if (hmac.length !== this.#expectedHmac.length || !timingSafeEqual(hmac, this.#expectedHmac))
      return cb(
        new IntegrityError(
          'the encrypted layer fails its HMAC: it was altered, or is not the layer its annotations describe',
        ),
      );
    this.#digest = `sha256:${this.#plain.digest('hex')}`;
    if (this.#checkDigest && this.#digest !== this.#expectedDigest)
      return cb(
        new IntegrityError(
          `the decrypted layer is ${this.#digest}, but its encryption recorded ${this.#expectedDigest}`,
        ),
      );
    cb();
  }

  /** After the end: the plaintext's digest and size, and the digest the private options recorded. */
  result(): { digest: string; size: number; recordedDigest: string } {
    if (!this.#digest) throw new Error('the layer is not decrypted and verified to the end yet');
    return { digest: this.#digest, size: this.#size, recordedDigest: this.#expectedDigest };
  }
}

/**
 * A decryptor for a layer descriptor's annotations with the first of `keys` that opens it; a KeyError naming the
 * problem when none does (no key given, or none of them is a recipient).
 */
export function decryptLayer(
  annotations: Record<string, string> | undefined,
  keys: KeyObject[],
  o: DecryptOptions = {},
): LayerDecryptor {
  if (keys.length === 0) throw new KeyError('no private key given to decrypt the layer');
  const opened = openLayer(annotations, keys);
  if (!opened)
    throw new KeyError(
      `none of the ${keys.length} private key(s) given is a recipient of the layer (its JWE does not open with them)`,
    );
  return new LayerDecryptor(opened, o);
}

import { KeyError } from './keys.js';

/**
 * The names and option documents of ocicrypt's layer encryption (containers/ocicrypt spec/spec.go,
 * blockcipher/blockcipher.go, encryption.go), as Debian's skopeo 1.9.3 writes and reads them.
 */

/** The descriptor annotation holding the wrapped keys: base64 of each JWE's JSON, comma-separated. */
export const ANNOTATION_JWE = 'org.opencontainers.image.enc.keys.jwe';
/** The descriptor annotation holding the public options: base64 of their JSON. */
export const ANNOTATION_PUBOPTS = 'org.opencontainers.image.enc.pubopts';
/** The prefix of every encryption annotation (ocicrypt's FilterOutAnnotations drops them after decryption). */
export const ANNOTATION_PREFIX = 'org.opencontainers.image.enc.';
/** The one layer cipher ocicrypt has: AES-256 in CTR mode, then HMAC-SHA256 over the ciphertext, one key for both. */
export const LAYER_CIPHER = 'AES_256_CTR_HMAC_SHA256';

/** The media type of a layer once encrypted: spec.go's `+encrypted` suffix (tar, tar+gzip, tar+zstd). */
export function encryptedMediaType(mediaType: string): string {
  return mediaType.endsWith('+encrypted') ? mediaType : `${mediaType}+encrypted`;
}

export function isEncryptedMediaType(mediaType: string): boolean {
  return mediaType.endsWith('+encrypted');
}

/** The media type a decrypted layer gets back. */
export function decryptedMediaType(mediaType: string): string {
  return mediaType.replace(/\+encrypted$/, '');
}

/** What only recipients may read: ocicrypt's PrivateLayerBlockCipherOptions, wrapped in the JWE. */
export interface PrivateOptions {
  /** The AES-256 key, also the HMAC key. */
  symkey: Buffer;
  /** The digest of the layer before encryption (ocicrypt: the source descriptor's digest). */
  digest: string;
  /** The 16-byte initial counter block of AES-CTR. */
  nonce: Buffer;
}

/** What anyone may read: ocicrypt's PublicLayerBlockCipherOptions. */
export interface PublicOptions {
  cipher: string;
  /** HMAC-SHA256 of the ciphertext under symkey. */
  hmac: Buffer;
}

const b64 = (b: Buffer): string => b.toString('base64');
const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict padded standard base64, as go's encoding/json writes a []byte. */
export function fromStdB64(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !STD_B64.test(s)) throw new KeyError(`${what} is not base64`);
  return Buffer.from(s, 'base64');
}

/**
 * The private options' JSON, field for field as go's json.Marshal writes the struct: symkey, digest, cipheroptions
 * (a map, keys sorted; AES-CTR puts only its nonce there). Debian's ocicrypt has no previouslayersdigest field.
 */
export function privateOptionsJson(o: PrivateOptions): string {
  return JSON.stringify({ symkey: b64(o.symkey), digest: o.digest, cipheroptions: { nonce: b64(o.nonce) } });
}

/**
 * The public options' JSON: cipher, hmac, cipheroptions (empty for AES-CTR). ocicrypt's AES-CTR finalizer sets
 * `hmac` after reading the whole layer and leaves cipheroptions an empty map.
 */
export function publicOptionsJson(o: PublicOptions): string {
  return JSON.stringify({ cipher: o.cipher, hmac: b64(o.hmac), cipheroptions: {} });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseObject(json: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new KeyError(`${what} are not JSON`);
  }
  if (!isObject(v)) throw new KeyError(`${what} are not a JSON object`);
  return v;
}

/** Parses and checks the private options (key and nonce sizes of AES-256-CTR, a sha256 digest). */
export function parsePrivateOptions(json: string): PrivateOptions {
  const v = parseObject(json, 'the private layer options');
  const symkey = fromStdB64(v.symkey, 'the layer key (symkey)');
  if (symkey.length !== 32) throw new KeyError(`the layer key is ${symkey.length} bytes; AES-256 takes 32`);
  const opts = isObject(v.cipheroptions) ? v.cipheroptions : {};
  const nonce = fromStdB64(opts.nonce, 'the layer nonce');
  if (nonce.length !== 16) throw new KeyError(`the layer nonce is ${nonce.length} bytes; AES-CTR takes 16`);
  if (typeof v.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(v.digest))
    throw new KeyError('the private layer options carry no sha256 digest of the layer');
  return { symkey, digest: v.digest, nonce };
}

/**
 * Parses and checks the public options. The HMAC is read from `hmac`, where ocicrypt's AES-CTR cipher writes it;
 * early ocicrypt kept it in `cipheroptions.hmac`, which its decryption still consults, so that is accepted too.
 */
export function parsePublicOptions(json: string): PublicOptions {
  const v = parseObject(json, 'the public layer options');
  if (v.cipher !== LAYER_CIPHER)
    throw new KeyError(`the layer cipher is ${JSON.stringify(v.cipher)}, not ${LAYER_CIPHER}`);
  const opts = isObject(v.cipheroptions) ? v.cipheroptions : {};
  const given = typeof v.hmac === 'string' && v.hmac !== '' ? v.hmac : opts.hmac;
  const hmac = fromStdB64(given, 'the layer HMAC');
  if (hmac.length !== 32) throw new KeyError(`the layer HMAC is ${hmac.length} bytes; HMAC-SHA256 gives 32`);
  return { cipher: LAYER_CIPHER, hmac };
}

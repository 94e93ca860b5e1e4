import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  constants,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { CURVES, KeyError, type RecipientKey } from './keys.js';

/**
 * JSON Web Encryption (RFC 7516) as ocicrypt's JWE key wrapper makes it: go-jose v2's `NewMultiEncrypter(A256GCM,
 * recipients)` then `FullSerialize()`. Recipients: RSA keys with RSA-OAEP (SHA-1, empty label), EC keys with
 * ECDH-ES+A256KW (RFC 7518 4.6, no apu/apv); content: A256GCM. Serialization, as go-jose writes it:
 * - one recipient: flattened, its header merged into the protected header
 *   `{"protected","encrypted_key","iv","ciphertext","tag"}`;
 * - several: general, protected `{"enc":"A256GCM"}` and per-recipient `{"header":{"alg",["epk"]},"encrypted_key"}`,
 *   plus a top-level `encrypted_key` repeating the first recipient's (go-jose sets it before choosing the form).
 * Headers are JSON objects with sorted keys (go's rawHeader is a map); every binary value is unpadded base64url.
 */

export const JWE_ENC = 'A256GCM';
export const ALG_RSA = 'RSA-OAEP';
export const ALG_EC = 'ECDH-ES+A256KW';

/** Where randomness comes from; tests give fixed values. */
export interface JweRandom {
  bytes(n: number): Buffer;
  /** An ephemeral EC private key on the named (OpenSSL) curve. */
  ephemeral(namedCurve: string): KeyObject;
}

export const systemRandom: JweRandom = {
  bytes: (n) => randomBytes(n),
  ephemeral: (namedCurve) => generateKeyPairSync('ec', { namedCurve }).privateKey,
};

const b64u = (b: Buffer): string => b.toString('base64url');

/** Strict unpadded base64url (Buffer.from would skip garbage silently). */
export function fromB64u(s: unknown, what: string): Buffer {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1)
    throw new KeyError(`JWE ${what} is not base64url`);
  return Buffer.from(s, 'base64url');
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const lengthPrefixed = (b: Buffer): Buffer => Buffer.concat([u32(b.length), b]);

/**
 * The Concat KDF of NIST SP 800-56A as JWA uses it (RFC 7518 4.6.2) with SHA-256: AlgorithmID, PartyUInfo and
 * PartyVInfo length-prefixed, SuppPubInfo the key length in bits, SuppPrivInfo empty.
 */
export function concatKdf(z: Buffer, algorithm: string, apu: Buffer, apv: Buffer, keyBits: number): Buffer {
  const other = Buffer.concat([
    lengthPrefixed(Buffer.from(algorithm, 'ascii')),
    lengthPrefixed(apu),
    lengthPrefixed(apv),
    u32(keyBits),
  ]);
  const out: Buffer[] = [];
  for (let round = 1; out.length * 32 < keyBits / 8; round++)
    out.push(createHash('sha256').update(u32(round)).update(z).update(other).digest());
  return Buffer.concat(out).subarray(0, keyBits / 8);
}

const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');

/** AES Key Wrap (RFC 3394) with a 256-bit key encryption key. */
export function aesKeyWrap(kek: Buffer, key: Buffer): Buffer {
  const c = createCipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([c.update(key), c.final()]);
}

/** Unwraps, or throws when the integrity check fails (a wrong key). */
export function aesKeyUnwrap(kek: Buffer, wrapped: Buffer): Buffer {
  const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
  return Buffer.concat([d.update(wrapped), d.final()]);
}

/** An EC public key as go-jose marshals a JSONWebKey: kty, crv, x, y, coordinates padded to the curve's size. */
export function ecJwk(key: KeyObject): { kty: 'EC'; crv: string; x: string; y: string } {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const curve = CURVES[pub.asymmetricKeyDetails?.namedCurve ?? ''];
  if (!curve) throw new KeyError(`unsupported curve ${pub.asymmetricKeyDetails?.namedCurve ?? ''}`);
  const jwk = pub.export({ format: 'jwk' });
  const pad = (s: string | undefined) => {
    const b = Buffer.from(s ?? '', 'base64url');
    return b64u(Buffer.concat([Buffer.alloc(Math.max(0, curve.bytes - b.length)), b]));
  };
  return { kty: 'EC', crv: curve.jwk, x: pad(jwk.x), y: pad(jwk.y) };
}

/** The key agreement of ECDH-ES+A256KW: the KEK shared by an ephemeral and a static key. */
function ecdhKek(
  privateKey: KeyObject,
  publicKey: KeyObject,
  apu: Buffer = Buffer.alloc(0),
  apv: Buffer = Buffer.alloc(0),
): Buffer {
  // Node pads Z to the field size, as RFC 7518 and go-jose's DeriveECDHES require.
  const z = diffieHellman({ privateKey, publicKey });
  return concatKdf(z, ALG_EC, apu, apv, 256);
}

type Header = Record<string, unknown>;

/** A header as go's json.Marshal writes a map: keys sorted. */
function sortedHeader(h: Header): Header {
  return Object.fromEntries(
    Object.keys(h)
      .sort()
      .map((k) => [k, h[k]]),
  );
}

/** Wraps the content encryption key for one recipient: its encrypted key and its header. */
function wrapFor(r: RecipientKey, cek: Buffer, random: JweRandom): { header: Header; encryptedKey: Buffer } {
  if (r.kind === 'RSA') {
    const encryptedKey = publicEncrypt(
      { key: r.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      cek,
    );
    return { header: { alg: ALG_RSA }, encryptedKey };
  }
  const eph = random.ephemeral(r.key.asymmetricKeyDetails!.namedCurve!);
  const kek = ecdhKek(eph, r.key);
  return { header: { alg: ALG_EC, epk: ecJwk(eph) }, encryptedKey: aesKeyWrap(kek, cek) };
}

/** Encrypts `plaintext` for every recipient; the JWE JSON serialization go-jose's FullSerialize gives. */
export function jweEncrypt(plaintext: Buffer, recipients: RecipientKey[], random = systemRandom): string {
  if (recipients.length === 0) throw new KeyError('no recipients to encrypt for');
  const cek = random.bytes(32);
  const wrapped = recipients.map((r) => wrapFor(r, cek, random));
  const single = wrapped.length === 1;
  const protectedHeader = sortedHeader(single ? { enc: JWE_ENC, ...wrapped[0]!.header } : { enc: JWE_ENC });
  const protectedB64 = b64u(Buffer.from(JSON.stringify(protectedHeader)));
  const iv = random.bytes(12);
  const gcm = createCipheriv('aes-256-gcm', cek, iv);
  gcm.setAAD(Buffer.from(protectedB64, 'ascii'));
  const ciphertext = Buffer.concat([gcm.update(plaintext), gcm.final()]);
  const tag = gcm.getAuthTag();
  cek.fill(0);
  const body = {
    iv: b64u(iv),
    ciphertext: b64u(ciphertext),
    tag: b64u(tag),
  };
  if (single)
    return JSON.stringify({
      protected: protectedB64,
      encrypted_key: b64u(wrapped[0]!.encryptedKey),
      ...body,
    });
  return JSON.stringify({
    protected: protectedB64,
    recipients: wrapped.map((w) => ({ header: sortedHeader(w.header), encrypted_key: b64u(w.encryptedKey) })),
    encrypted_key: b64u(wrapped[0]!.encryptedKey),
    ...body,
  });
}

/** A parsed JWE JSON serialization (general or flattened). */
export interface ParsedJwe {
  protectedB64: string;
  /** Protected, shared unprotected and per-recipient header merged, per recipient. */
  recipients: { header: Header; encryptedKey: Buffer }[];
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
  aad?: string;
}

const isObject = (v: unknown): v is Header => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a JWE JSON serialization; throws a KeyError naming what is malformed. */
export function parseJwe(serialized: string): ParsedJwe {
  let raw: unknown;
  try {
    raw = JSON.parse(serialized);
  } catch {
    throw new KeyError('the JWE is not JSON (only the JSON serialization is used by ocicrypt)');
  }
  if (!isObject(raw)) throw new KeyError('the JWE is not a JSON object');
  const protectedB64 = typeof raw.protected === 'string' ? raw.protected : '';
  let protectedHeader: Header = {};
  if (protectedB64) {
    try {
      const h: unknown = JSON.parse(fromB64u(protectedB64, 'protected header').toString('utf8'));
      if (!isObject(h)) throw new Error();
      protectedHeader = h;
    } catch {
      throw new KeyError('the JWE protected header is not a JSON object');
    }
  }
  const shared = { ...protectedHeader, ...(isObject(raw.unprotected) ? raw.unprotected : {}) };
  const list: unknown[] =
    Array.isArray(raw.recipients) && raw.recipients.length > 0
      ? raw.recipients
      : [{ header: raw.header, encrypted_key: raw.encrypted_key }];
  const recipients = list.map((r, i) => {
    if (!isObject(r)) throw new KeyError(`JWE recipient ${i} is not an object`);
    return {
      header: { ...shared, ...(isObject(r.header) ? r.header : {}) },
      encryptedKey: fromB64u(r.encrypted_key ?? '', `recipient ${i} encrypted_key`),
    };
  });
  return {
    protectedB64,
    recipients,
    iv: fromB64u(raw.iv, 'iv'),
    ciphertext: fromB64u(raw.ciphertext, 'ciphertext'),
    tag: fromB64u(raw.tag, 'tag'),
    ...(typeof raw.aad === 'string' ? { aad: raw.aad } : {}),
  };
}

/** ECDH-ES+A256KW: the ephemeral key in the header, on the private key's curve, agreed with it, then AES-KW. */
function unwrapEc(header: Header, encryptedKey: Buffer, key: KeyObject): Buffer | undefined {
  const jwk = header.epk;
  if (!isObject(jwk) || jwk.kty !== 'EC' || 'd' in jwk) return undefined;
  const epk = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  if (epk.asymmetricKeyDetails?.namedCurve !== key.asymmetricKeyDetails?.namedCurve) return undefined;
  const apu = header.apu === undefined ? Buffer.alloc(0) : fromB64u(header.apu, 'apu');
  const apv = header.apv === undefined ? Buffer.alloc(0) : fromB64u(header.apv, 'apv');
  return aesKeyUnwrap(ecdhKek(key, epk, apu, apv), encryptedKey);
}

/** The content encryption key of one recipient with one private key, or undefined when that key does not open it. */
function unwrapFor(header: Header, encryptedKey: Buffer, key: KeyObject): Buffer | undefined {
  try {
    if (header.alg === ALG_RSA && key.asymmetricKeyType === 'rsa')
      return privateDecrypt(
        { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
        encryptedKey,
      );
    if (header.alg === ALG_EC && key.asymmetricKeyType === 'ec') return unwrapEc(header, encryptedKey, key);
  } catch {
    // not this key's
  }
  return undefined;
}

/** Refuses what ocicrypt's JWE wrapper never writes: other algorithms, compression, a short IV or tag. */
function checkAlgorithms(jwe: ParsedJwe): void {
  for (const r of jwe.recipients) {
    if (r.header.enc !== JWE_ENC)
      throw new KeyError(`JWE content encryption ${String(r.header.enc)} is not ${JWE_ENC}`);
    if (r.header.alg !== ALG_RSA && r.header.alg !== ALG_EC)
      throw new KeyError(`JWE key algorithm ${String(r.header.alg)} is neither ${ALG_RSA} nor ${ALG_EC}`);
    if (r.header.zip !== undefined) throw new KeyError('JWE compression (zip) is not used by ocicrypt');
  }
  // A256GCM: a 96-bit IV and the full 128-bit tag (a shorter tag would weaken the authentication).
  if (jwe.iv.length !== 12) throw new KeyError(`JWE iv is ${jwe.iv.length} bytes; A256GCM takes 12`);
  if (jwe.tag.length !== 16) throw new KeyError(`JWE tag is ${jwe.tag.length} bytes; A256GCM gives 16`);
}

/** The content, if `cek` authenticates it (AAD: the protected header as sent, then "." and aad if any). */
function openContent(jwe: ParsedJwe, cek: Buffer): Buffer | undefined {
  try {
    const gcm = createDecipheriv('aes-256-gcm', cek, jwe.iv, { authTagLength: 16 });
    gcm.setAAD(
      Buffer.from(jwe.aad === undefined ? jwe.protectedB64 : `${jwe.protectedB64}.${jwe.aad}`, 'ascii'),
    );
    gcm.setAuthTag(jwe.tag);
    return Buffer.concat([gcm.update(jwe.ciphertext), gcm.final()]);
  } catch {
    return undefined;
  }
}

/**
 * Decrypts a JWE with the first of `keys` that opens one of its recipients, or returns undefined when none does.
 * Throws a KeyError for a JWE that is malformed or uses algorithms ocicrypt's JWE wrapper does not.
 */
export function jweDecrypt(serialized: string, keys: KeyObject[]): Buffer | undefined {
  const jwe = parseJwe(serialized);
  checkAlgorithms(jwe);
  for (const key of keys) {
    for (const r of jwe.recipients) {
      const cek = unwrapFor(r.header, r.encryptedKey, key);
      if (!cek) continue;
      // A key that unwraps to something that does not authenticate the content: try the others.
      const plain = cek.length === 32 ? openContent(jwe, cek) : undefined;
      cek.fill(0);
      if (plain) return plain;
    }
  }
  return undefined;
}

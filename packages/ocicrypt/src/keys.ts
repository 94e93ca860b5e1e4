import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/**
 * The curves ocicrypt's JWE key wrapper can use (go-jose: ECDH-ES+A256KW over any crypto/ecdsa curve it has a JWK
 * name for), by OpenSSL's name and JWK's.
 */
export const CURVES: Readonly<Record<string, { jwk: 'P-256' | 'P-384' | 'P-521'; bytes: number }>> = {
  prime256v1: { jwk: 'P-256', bytes: 32 },
  secp384r1: { jwk: 'P-384', bytes: 48 },
  secp521r1: { jwk: 'P-521', bytes: 66 },
};

/** RSA keys shorter than this are refused: NIST SP 800-131A disallows them for key transport since 2013. */
export const MIN_RSA_BITS = 2048;

/** A recipient of an encrypted layer: a public key ocicrypt's JWE wrapper accepts. */
export interface RecipientKey {
  key: KeyObject;
  kind: 'RSA' | 'EC';
  /** e.g. "RSA 4096" or "EC P-256", for messages. */
  describe: string;
  /** sha256:<hex> of the key's SubjectPublicKeyInfo (DER): names the key without showing it. */
  fingerprint: string;
}

/** Why a key cannot be used, in words a user can act on (never the key's contents). */
export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

/** sha256:<hex> of the SubjectPublicKeyInfo of a public key, or of a private key's public half. */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** The labels of the PEM blocks in a text, in order. */
export function pemLabels(text: string): string[] {
  return [...text.matchAll(PEM_BLOCK)].map((m) => m[1]!);
}

/** What kind of key a KeyObject is, or why ocicrypt's JWE could not use it. */
function recipientOf(key: KeyObject): RecipientKey {
  const fingerprint = keyFingerprint(key);
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      throw new KeyError(`it is an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are needed`);
    return { key, kind: 'RSA', describe: `RSA ${bits}`, fingerprint };
  }
  if (key.asymmetricKeyType === 'ec') {
    const curve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve)
      throw new KeyError(
        `it is an EC key on curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'}; ocicrypt's JWE takes P-256, P-384 or P-521`,
      );
    return { key, kind: 'EC', describe: `EC ${curve.jwk}`, fingerprint };
  }
  throw new KeyError(
    `it is an ${key.asymmetricKeyType ?? 'unknown'} key; ocicrypt's JWE takes RSA (RSA-OAEP) or EC (ECDH-ES+A256KW) keys`,
  );
}

/**
 * One recipient from a text holding exactly one PEM public key ("PUBLIC KEY", as `openssl pkey -pubout` writes, or
 * PKCS#1 "RSA PUBLIC KEY"). A private key is refused, not turned into its public half: it must not be where
 * recipients' keys are kept (a CheckpointBackup's keys object is read by every agent of the namespace's clusters).
 */
export function parseRecipientKey(text: string): RecipientKey {
  const labels = pemLabels(text);
  if (labels.length === 0) throw new KeyError('it holds no PEM block (-----BEGIN PUBLIC KEY-----)');
  if (labels.some((l) => l.includes('PRIVATE')))
    throw new KeyError(
      'it holds a private key: only public keys belong there (the private key stays with whoever may decrypt)',
    );
  if (labels.length > 1) throw new KeyError(`it holds ${labels.length} PEM blocks; give one key per entry`);
  if (labels[0] !== 'PUBLIC KEY' && labels[0] !== 'RSA PUBLIC KEY')
    throw new KeyError(`it holds a ${labels[0]} PEM block, not a PUBLIC KEY`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch {
    throw new KeyError(`its ${labels[0]} PEM block cannot be read as a key`);
  }
  return recipientOf(key);
}

/** A private key for decryption: PEM (PKCS#8, PKCS#1 or SEC 1), unencrypted. */
export function parsePrivateKey(text: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    throw new KeyError('not an unencrypted PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec')
    throw new KeyError(
      `a ${key.asymmetricKeyType ?? 'unknown'} private key; RSA or EC keys decrypt JWE here`,
    );
  return key;
}

import { KeyError, parseRecipientKey, type RecipientKey } from './keys.js';

/**
 * A keys object (spec.encryption.publicKeysRef of a CheckpointBackup, issue 14): a Secret or ConfigMap whose every
 * data key holds one PEM public key. The one reading of it, shared by the agent (which encrypts for its recipients)
 * and the restore controller (which checks, before a migration stops its source, that the target holds a key for
 * them), so that both derive the same recipients from the same object. Pure: callers read the object.
 */

/** Which object: its kind and name (its namespace is always the CheckpointBackup's). */
export interface KeysObjectRef {
  kind: 'Secret' | 'ConfigMap';
  name: string;
}

/** Why a keys object gives no recipients: the same reasons wherever it is read. */
export const REASON_KEYS_NOT_FOUND = 'EncryptionKeysNotFound';
export const REASON_KEYS_UNREADABLE = 'EncryptionKeysUnreadable';
export const REASON_KEYS_INVALID = 'EncryptionKeysInvalid';

export type Recipients =
  { ok: true; recipients: RecipientKey[] } | { ok: false; reason: string; message: string };

/** How an object is named in messages: "ConfigMap shop/keys". */
export function keysObjectName(ref: KeysObjectRef, namespace: string): string {
  return `${ref.kind} ${namespace}/${ref.name}`;
}

/**
 * The text of each data key of a Secret (base64 data) or ConfigMap (data, and base64 binaryData), by key.
 * Values that are not valid UTF-8 are kept as decoded; parseRecipientKey refuses them.
 */
export function keysObjectData(
  kind: KeysObjectRef['kind'],
  obj: { data?: Record<string, string>; binaryData?: Record<string, string> },
): Record<string, string> {
  const b64 = (v: string) => Buffer.from(v, 'base64').toString('utf8');
  if (kind === 'Secret')
    return Object.fromEntries(Object.entries(obj.data ?? {}).map(([k, v]) => [k, b64(v)]));
  return {
    ...obj.data,
    ...Object.fromEntries(Object.entries(obj.binaryData ?? {}).map(([k, v]) => [k, b64(v)])),
  };
}

/**
 * The recipients a keys object gives: every data key must hold exactly one PEM public key that ocicrypt's JWE can
 * wrap for (RSA >= 2048 bits, EC P-256/384/521); the first that does not fails the whole object, naming the data
 * key and why (never its contents), since encrypting for fewer recipients than the user listed would lock out
 * whoever they meant. The same key twice is one recipient. Keys come in data-key order.
 */
export function recipientsFrom(
  ref: KeysObjectRef,
  namespace: string,
  data: Record<string, string>,
): Recipients {
  const what = `spec.encryption.publicKeysRef: ${keysObjectName(ref, namespace)}`;
  const entries = Object.entries(data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0)
    return {
      ok: false,
      reason: REASON_KEYS_INVALID,
      message: `${what} holds no keys: put one PEM public key (RSA or EC) in each data key`,
    };
  const recipients: RecipientKey[] = [];
  for (const [key, text] of entries) {
    let r: RecipientKey;
    try {
      r = parseRecipientKey(text);
    } catch (err) {
      if (!(err instanceof KeyError)) throw err;
      return {
        ok: false,
        reason: REASON_KEYS_INVALID,
        message: `${what}, data key "${key}", is not a public key to encrypt for: ${err.message}`,
      };
    }
    if (!recipients.some((x) => x.fingerprint === r.fingerprint)) recipients.push(r);
  }
  return { ok: true, recipients };
}

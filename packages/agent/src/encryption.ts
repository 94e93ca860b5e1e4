import { API_GROUP, type CheckpointBackup, type PublicKeysRef } from '@stateful-migration/api';
import {
  ANNOTATION_JWE,
  KeyError,
  isEncryptedMediaType,
  parseRecipientKey,
  type RecipientKey,
} from '@stateful-migration/ocicrypt';

/**
 * spec.encryption (issue 14), the agent's decisions: which recipients a keys object gives, why it gives none, and
 * whether an image found at a run's tag is that run's encrypted push. Pure; the controller reads the objects.
 */

/** Manifest annotation of an encrypted checkpoint image: its recipients' fingerprints, comma-separated. */
export const ENCRYPTED_FOR_ANNOTATION = `${API_GROUP}/encrypted-for`;

export const REASON_NEEDS_REGISTRY = 'EncryptionNeedsRegistry';
export const REASON_KEYS_NOT_FOUND = 'EncryptionKeysNotFound';
export const REASON_KEYS_UNREADABLE = 'EncryptionKeysUnreadable';
export const REASON_KEYS_INVALID = 'EncryptionKeysInvalid';

export type Recipients =
  { ok: true; recipients: RecipientKey[] } | { ok: false; reason: string; message: string };

/** How an object is named in messages: "ConfigMap shop/keys". */
export function keysObjectName(ref: PublicKeysRef, namespace: string): string {
  return `${ref.kind} ${namespace}/${ref.name}`;
}

/** spec.encryption without spec.registry cannot work (the CRD refuses it too): a refusal, or undefined. */
export function encryptionRefusal(
  b: Pick<CheckpointBackup, 'spec'>,
): { reason: string; message: string } | undefined {
  if (!b.spec.encryption || b.spec.registry) return undefined;
  return {
    reason: REASON_NEEDS_REGISTRY,
    message:
      "spec.encryption needs spec.registry: only images pushed to a registry are encrypted (an image kept in the node's storage is not); set spec.registry or remove spec.encryption",
  };
}

/**
 * The text of each data key of a Secret (base64 data) or ConfigMap (data, and base64 binaryData), by key.
 * Values that are not valid UTF-8 are kept as decoded; parseRecipientKey refuses them.
 */
export function keysObjectData(
  kind: PublicKeysRef['kind'],
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
  ref: PublicKeysRef,
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

/** The refusal for a keys object the agent could not read. */
export function keysUnavailable(
  ref: PublicKeysRef,
  namespace: string,
  status: number | undefined,
  detail: string,
): { reason: string; message: string } {
  const what = `spec.encryption.publicKeysRef: ${keysObjectName(ref, namespace)}`;
  if (status === 404)
    return {
      reason: REASON_KEYS_NOT_FOUND,
      message: `${what} does not exist in this cluster: create it, one PEM public key per data key`,
    };
  if (status === 403)
    return {
      reason: REASON_KEYS_UNREADABLE,
      message: `${what} cannot be read by the agent (403 Forbidden): give its ServiceAccount get on that one ${ref.kind}, with a Role in ${namespace} like a registry secret's`,
    };
  return { reason: REASON_KEYS_UNREADABLE, message: `${what} cannot be read (${detail})` };
}

/** A checkpoint image's manifest annotations, with its recipients' fingerprints when it is encrypted. */
export function withRecipients(
  annotations: Record<string, string>,
  fingerprints: string[] | undefined,
): Record<string, string> {
  return fingerprints ? { ...annotations, [ENCRYPTED_FOR_ANNOTATION]: fingerprints.join(',') } : annotations;
}

/** The manifest as getManifest gives it. */
export interface FoundManifest {
  annotations?: Record<string, string>;
  layers: { mediaType?: string; annotations?: Record<string, string> }[];
}

/**
 * Whether the image already at a run's tag is that run's own encrypted push, completed before the agent died and
 * before it could record it (an encrypted image's digest cannot be computed ahead, so it is recognised instead):
 * every layer encrypted with JWE, the run's annotations, and the same recipients. Anything else is pushed again.
 */
export function isOwnEncryptedPush(
  found: FoundManifest,
  annotations: Record<string, string>,
  recipients: string[],
): boolean {
  const a = found.annotations ?? {};
  return (
    found.layers.length > 0 &&
    found.layers.every((l) => isEncryptedMediaType(l.mediaType ?? '') && !!l.annotations?.[ANNOTATION_JWE]) &&
    Object.entries(annotations).every(([k, v]) => a[k] === v) &&
    a[ENCRYPTED_FOR_ANNOTATION] === recipients.join(',')
  );
}

import { API_GROUP, type CheckpointBackup, type PublicKeysRef } from '@stateful-migration/api';
import {
  ANNOTATION_JWE,
  REASON_KEYS_NOT_FOUND,
  REASON_KEYS_UNREADABLE,
  isEncryptedMediaType,
  keysObjectName,
} from '@stateful-migration/ocicrypt';

/**
 * spec.encryption (issue 14), the agent's decisions: which recipients a keys object gives, why it gives none, and
 * whether an image found at a run's tag is that run's encrypted push. Pure; the controller reads the objects.
 */

/** Manifest annotation of an encrypted checkpoint image: its recipients' fingerprints, comma-separated. */
export const ENCRYPTED_FOR_ANNOTATION = `${API_GROUP}/encrypted-for`;

export const REASON_NEEDS_REGISTRY = 'EncryptionNeedsRegistry';
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

import type { CheckpointRestore } from '@stateful-migration/api';
import { OWNER_LABEL } from '../submit.js';
import { isObjectName, migrationActive } from './plan.js';
import {
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_ANNOTATION,
  WEBHOOK_CONFIG_PREFIX,
} from './webhook-config.js';

/**
 * Which MutatingWebhookConfigurations the hub removes from a member although no migration's release did it (issue
 * 13 review; docs/adr/0007 Decision 3): one left behind when its CheckpointRestore's finalizer was removed by hand,
 * the hub was uninstalled, or the member was unreachable when the migration ended. Such a one still sends the
 * workload's pods to the hub with failurePolicy Fail: while the hub is away, none of them can be created.
 *
 * Only the hub's own: the name `stateful-migration.*` and the label managed-by=stateful-migration-hub, both as
 * webhookConfiguration makes them (a user's configuration that merely shares the prefix is never touched). Kept
 * while its CheckpointRestore migrates (the webhook acts for it) and while a restore being deleted still holds the
 * finalizer (its release removes it, in the order that keeps the workload running once); removed when that restore
 * is gone, or ended (SourceStopped, Failed, RolledBack), or has not begun a migration (a new restore of the same
 * name: it makes its own, for its own workload, when it begins).
 */

/** A webhook configuration as the sweep reads it from a member. */
export interface WebhookConfigView {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
}

/** The CheckpointRestore (namespace/name) a configuration is the hub's for; undefined: not one the hub made. */
export function sweptOwner(c: WebhookConfigView): { namespace: string; name: string } | undefined {
  if (!c.name.startsWith(WEBHOOK_CONFIG_PREFIX) || c.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE)
    return undefined;
  // The annotation names it whole. The label and the name are hashed or cut for long names (labelValue,
  // objectName), and read as a name they would say "gone" of a live migration: with an annotation they are not read.
  const annotated = c.annotations?.[OWNER_ANNOTATION];
  if (annotated !== undefined) return restoreRef(annotated);
  // Made before the annotation, when a name too long for the label could not be created at all: the label is
  // `<namespace>.<restore>` whole, and a namespace has no dot; the name says the same unless it was cut at 253.
  const owner = c.labels[OWNER_LABEL] ?? c.name.slice(WEBHOOK_CONFIG_PREFIX.length);
  const dot = owner.indexOf('.');
  if (dot <= 0 || dot === owner.length - 1) return undefined;
  return { namespace: owner.slice(0, dot), name: owner.slice(dot + 1) };
}

/** `<namespace>/<name>` as a restore's namespace and name, or undefined unless both are valid names. */
export function restoreRef(s: string): { namespace: string; name: string } | undefined {
  const slash = s.indexOf('/');
  const namespace = s.slice(0, slash);
  const name = s.slice(slash + 1);
  return slash > 0 && isNamespaceName(namespace) && isObjectName(name) ? { namespace, name } : undefined;
}

/** A namespace name: a DNS-1123 label (at most 63, no dot). */
const isNamespaceName = (s: string): boolean => s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);

export type SweepVerdict = { sweep: false } | { sweep: true; why: string };

/**
 * Whether member `name`, Ready now or not (`ready`), has just come back: it was last seen not Ready. The sweep looks
 * only at Ready members, so what a lost member kept (a configuration that stops its workload's pods from being
 * created while the hub does not answer for them) is swept as soon as it is back, not at the next periodic sweep.
 * Records `ready` in `last`, the members as last seen; a member seen for the first time has not come back.
 */
export function cameBack(last: Map<string, boolean>, name: string, ready: boolean): boolean {
  const was = last.get(name);
  last.set(name, ready);
  return was === false && ready;
}

/**
 * Whether the hub removes configuration `c`, given its CheckpointRestore as read now (undefined: gone). The caller
 * lists the configurations before it reads the restore: a configuration is made only after its restore recorded
 * status.workload, so one listed and then found without an active restore is not one a migration is making.
 */
export function sweepVerdict(
  c: WebhookConfigView,
  restore: Pick<CheckpointRestore, 'metadata' | 'status'> | undefined,
  finalizer: string,
): SweepVerdict {
  const owner = sweptOwner(c);
  if (!owner) return { sweep: false };
  const what = `CheckpointRestore ${owner.namespace}/${owner.name}`;
  if (!restore) return { sweep: true, why: `${what} is gone` };
  if (restore.metadata.namespace !== owner.namespace || restore.metadata.name !== owner.name)
    return { sweep: false };
  if (restore.metadata.deletionTimestamp)
    return restore.metadata.finalizers?.includes(finalizer)
      ? { sweep: false }
      : { sweep: true, why: `${what} is being deleted and no longer holds the hub's finalizer` };
  if (migrationActive(restore)) return { sweep: false };
  const phase = restore.status?.phase;
  return {
    sweep: true,
    why: restore.status?.workload
      ? `${what} ended ${phase ?? ''}`.trimEnd()
      : `${what} is not migrating a workload (phase ${phase ?? 'none'})`,
  };
}

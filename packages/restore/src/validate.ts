import {
  CROSS_NAMESPACE,
  crossNamespaceRef,
  invalidNameRefusal,
  matchesLabelSelector,
  ownNamespaceRule,
  registryCredentials,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointedPod,
  type CheckpointRestore,
  type ObjectRef,
  type RestoreImage,
  type RestoreMode,
  isWorkloadBackup,
} from '@stateful-migration/api';
import type { BackupCluster } from './source.js';

/** A member cluster as the Karmada Cluster object shows it. */
export interface ClusterView {
  name: string;
  labels: Record<string, string>;
  ready: boolean;
  /** Why it is not Ready, from its Ready condition. */
  message?: string;
  /** When it stopped being Ready (the condition's lastTransitionTime). */
  since?: string;
}

export interface ValidateInput {
  restore: CheckpointRestore;
  /** The hub's CheckpointBackup named by spec.backupRef, if it exists. */
  backup: CheckpointBackup | undefined;
  sources: BackupCluster[];
  clusters: ClusterView[];
}

/** How Migrate will stop the source, decided from the backup's resourceRef. */
export type StopPlan =
  { method: 'DeletePod' } | { method: 'Scale'; workload: { apiVersion: string; kind: string; name: string } };

/** Everything the controller needs to build, place and follow the restored pod. */
export interface RestorePlan {
  /** The restore's own namespace: the restored pod and its pull secret are made there, and only there. */
  namespace: string;
  sourceCluster: string;
  source: CheckpointedPod;
  /** One per container of the source pod, in its order, each by digest. */
  images: RestoreImage[];
  /**
   * What the chosen images' records say, per container: the recipients of an encrypted image (a node needs one of
   * their private keys) and the archive's digest recorded at checkpoint time (the node checks what it unpacks).
   */
  checkpoints: CheckpointRecord[];
  targetCluster: string;
  targetNode?: string;
  podName: string;
  mode: RestoreMode;
  /** The backup's own registry secret (never the platform's default), whose credentials become the pull secret. */
  registrySecret: Required<ObjectRef>;
  registryHost: string;
  stop?: StopPlan;
}

export interface CheckpointRecord {
  containerName: string;
  encryptedFor?: string[];
  archiveDigest?: string;
}

export type Verdict =
  | { kind: 'ok'; plan: RestorePlan }
  /** Not yet: the backup is still running, or its results have not reached the hub. */
  | { kind: 'wait'; reason: string; message: string }
  /** Never, as the spec and backup stand: the message says what to change. */
  | { kind: 'refuse'; reason: string; message: string };

export type Refusal = Extract<Verdict, { kind: 'refuse' }>;
const refuse = (reason: string, message: string): Refusal => ({ kind: 'refuse', reason, message });

const FINISHED = ['Completed', 'CompletedPodDeleted', 'CompletedWithError', 'Failed'];

/** Workloads whose controller would start a deleted pod again: Migrate scales them to 0 instead. */
const SCALABLE = ['Deployment', 'StatefulSet'];

/**
 * Checks a CheckpointRestore against its backup and the clusters before anything is created: the backup exists
 * and has a checkpoint; every container has a pushed (registry, not localhost) image, taken by digest; exactly
 * one existing, Ready target cluster; and, for Migrate, a source Migrate knows how to stop.
 */
export function validate(i: ValidateInput): Verdict {
  const r = i.restore;
  const badName = restoreNameRefusal(r);
  if (badName) return badName;
  const backupName = `${r.metadata.namespace}/${r.spec.backupRef.name}`;
  const missing = backupRefusal(r, i.backup);
  if (missing || !i.backup) return missing!;
  const whole = workloadBackupRefusal(i.backup);
  if (whole) return whole;
  const mode = r.spec.mode ?? 'Restore';
  const stop = mode === 'Migrate' ? stopPlan(i.backup) : undefined;
  if (stop && 'refuse' in stop) return stop.refuse;
  const src = source(i.sources, backupName);
  if (src.kind !== 'ok') return src.verdict;
  const elsewhere = checkpointElsewhere(r, src.source.checkpointedPod, backupName);
  if (elsewhere) return elsewhere;
  const pull = pullFrom(i.backup, src.source.checkpointedPod, backupName);
  if ('kind' in pull) return pull;
  const images = chooseImages(r, src.source, backupName);
  if ('refuse' in images) return images.refuse;
  const target = targetCluster(r, i.clusters);
  if (typeof target !== 'string') return target;
  const pod = src.source.checkpointedPod;
  return {
    kind: 'ok',
    plan: {
      namespace: r.metadata.namespace,
      sourceCluster: src.source.name,
      source: pod,
      images: images.images,
      checkpoints: images.checkpoints,
      targetCluster: target,
      ...(r.spec.targetNode ? { targetNode: r.spec.targetNode } : {}),
      podName: r.spec.podName || `${pod.name}-restored`,
      mode,
      registrySecret: pull.secret,
      registryHost: pull.host,
      ...(stop ? { stop } : {}),
    },
  };
}

/**
 * A name of the restore's own spec that is not an object name (spec.backupRef.name, spec.podName, spec.targetNode):
 * each goes into request paths, where `../../other/...` would be another namespace's backup or pod. Asked before
 * anything is read.
 */
export function restoreNameRefusal(r: Pick<CheckpointRestore, 'spec'>): Refusal | undefined {
  const names: [string, string | undefined][] = [
    ['spec.backupRef.name', r.spec.backupRef.name],
    ['spec.podName', r.spec.podName || undefined],
    ['spec.targetNode', r.spec.targetNode || undefined],
  ];
  for (const [field, name] of names) {
    const bad = name === undefined ? undefined : invalidNameRefusal(field, name);
    if (bad) return refuse(bad.reason, bad.message);
  }
  return undefined;
}

/** A backup that does not exist, or that the restore's namespace may not restore from (issue 11). */
export function backupRefusal(
  r: CheckpointRestore,
  backup: CheckpointBackup | undefined,
): Refusal | undefined {
  if (!backup)
    return refuse(
      'BackupNotFound',
      `CheckpointBackup ${r.metadata.namespace}/${r.spec.backupRef.name} does not exist; create it or fix spec.backupRef.name`,
    );
  return tenancyRefusal(backup, r.metadata.namespace);
}

/** A workload-level backup's restore or migration (issue 13 item 3) is not built yet: said plainly, nothing touched. */
export const WORKLOAD_RESTORE_NOT_SUPPORTED = 'WorkloadRestoreNotSupported';

export function workloadBackupRefusal(b: CheckpointBackup): Refusal | undefined {
  if (!isWorkloadBackup(b)) return undefined;
  const ref = b.spec.resourceRef;
  return refuse(
    WORKLOAD_RESTORE_NOT_SUPPORTED,
    `CheckpointBackup ${b.metadata.namespace}/${b.metadata.name} covers all of ${ref.kind} ${ref.name} (no spec.podRef): ` +
      'restoring or migrating a whole workload is not supported yet (docs/adr/0007); nothing was created or stopped. ' +
      'Restore one replica from a CheckpointBackup with spec.podRef naming it',
  );
}

/**
 * A backup that names another namespace (stored before the admission policy, or where there is none) is not
 * restored: its checkpoint may be of another tenant's pod, and Migrate would stop another tenant's workload.
 */
export function backupNamespaceRefusal(b: CheckpointBackup): Refusal | undefined {
  const r = crossNamespaceRef(b);
  const name = `${b.metadata.namespace}/${b.metadata.name}`;
  return r && refuse(r.reason, `CheckpointBackup ${name} cannot be restored: ${r.message}`);
}

/** A checkpoint of a pod of another namespace (recorded by an agent before issue 11) is another tenant's. */
function checkpointElsewhere(
  r: CheckpointRestore,
  pod: CheckpointedPod,
  backupName: string,
): Refusal | undefined {
  if (pod.namespace === r.metadata.namespace) return undefined;
  return refuse(
    CROSS_NAMESPACE,
    `the checkpoint of CheckpointBackup ${backupName} is of pod ${pod.namespace}/${pod.name}, not of a pod in ` +
      `namespace "${r.metadata.namespace}": ${ownNamespaceRule('CheckpointRestore')}`,
  );
}

/** What a restore refuses of its backup before anything else (issue 11). */
export function tenancyRefusal(b: CheckpointBackup, namespace: string): Refusal | undefined {
  return backupNamespaceRefusal(b) ?? platformSecret(b, namespace);
}

/**
 * The platform's default secret is never copied into a tenant's namespace as a pull secret (issue 11): anyone who
 * may read secrets there would have the platform's registry password. Refused at once, before the backup has run.
 */
function platformSecret(b: CheckpointBackup, namespace: string): Refusal | undefined {
  if (!b.spec.registry || b.spec.registry.secretRef) return undefined;
  return refuse(
    'DefaultSecretNotCopied',
    `CheckpointBackup ${b.metadata.namespace}/${b.metadata.name} pushes with the platform's default registry secret ` +
      `stateful-migration/registry-credentials, which a restore never copies into namespace "${namespace}" as a ` +
      `pull secret; set the backup's spec.registry.secretRef to a secret of namespace "${namespace}" that may pull ` +
      `from ${b.spec.registry.url}`,
  );
}

/** Where the restored pod pulls from, and with which secret: the backup's registry, with the backup's own secret. */
function pullFrom(
  b: CheckpointBackup,
  pod: CheckpointedPod,
  backupName: string,
): { secret: Required<ObjectRef>; host: string } | Refusal {
  const creds = registryCredentials(b, []);
  if (!b.spec.registry || creds.kind !== 'own')
    return refuse(
      'RegistryRequired',
      `the checkpoint images of ${backupName} are in node ${pod.node ?? '?'}'s local ` +
        'containers-storage (localhost/...), which no other node can pull: a registry is needed. Set spec.registry ' +
        'on the CheckpointBackup and checkpoint again',
    );
  return { secret: creds.secret, host: b.spec.registry.url };
}

type Source =
  | { kind: 'ok'; source: BackupCluster & { checkpointedPod: CheckpointedPod } }
  | { kind: 'no'; verdict: Verdict };

/** The member that holds the checkpoint: the one with a recorded pod, the latest if several. */
function source(sources: BackupCluster[], backupName: string): Source {
  const withPod = sources
    .filter((s): s is BackupCluster & { checkpointedPod: CheckpointedPod } => !!s.checkpointedPod)
    .sort((a, b) => (b.lastCheckpointTime ?? '').localeCompare(a.lastCheckpointTime ?? ''));
  if (withPod[0]) return { kind: 'ok', source: withPod[0] };
  const running = sources.filter((s) => !s.phase || !FINISHED.includes(s.phase));
  if (!sources.length || running.length)
    return {
      kind: 'no',
      verdict: {
        kind: 'wait',
        reason: 'BackupNotReady',
        message: running.length
          ? `waiting for ${backupName} to finish a checkpoint (${running.map((s) => `${s.name}: ${s.phase ?? 'not started'}`).join(', ')})`
          : `waiting for the results of ${backupName} to reach the hub`,
      },
    };
  const states = sources.map((s) => `${s.name}: ${s.phase}${s.message ? ` (${s.message})` : ''}`).join('; ');
  return {
    kind: 'no',
    verdict: refuse(
      'NoCheckpoint',
      `${backupName} has no recorded checkpoint of its pod to restore (${states}); fix the backup and checkpoint again`,
    ),
  };
}

const stripTag = (image: string): string => {
  const at = image.indexOf('@');
  if (at >= 0) return image.slice(0, at);
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? image.slice(0, colon) : image;
};

/** repo@digest: what the restored pod runs, so a re-pushed tag can never change what is restored. */
export function byDigest(image: BuiltImage): string | undefined {
  return image.digest ? `${stripTag(image.imageName)}@${image.digest}` : undefined;
}

const isLocal = (image: string): boolean => image.startsWith('localhost/');

/** The newest pushed image of a container. */
function latestPushed(images: BuiltImage[], container: string): BuiltImage | undefined {
  return images
    .filter((b) => b.containerName === container && b.pushed)
    .sort((a, b) => a.buildTime.localeCompare(b.buildTime))
    .at(-1);
}

type Chosen = { images: RestoreImage[]; checkpoints: CheckpointRecord[] } | { refuse: Verdict };

function chooseImages(
  r: CheckpointRestore,
  src: BackupCluster & { checkpointedPod: CheckpointedPod },
  backupName: string,
): Chosen {
  const built = src.builtImages ?? [];
  const names = src.checkpointedPod.containers.map((c) => c.name);
  const unknown = (r.spec.images ?? []).filter((x) => !names.includes(x.containerName));
  if (unknown.length)
    return {
      refuse: refuse(
        'UnknownContainer',
        `spec.images names ${unknown.map((x) => x.containerName).join(', ')}, not a container of pod ${src.checkpointedPod.name} (containers: ${names.join(', ')})`,
      ),
    };
  const images: RestoreImage[] = [];
  const checkpoints: CheckpointRecord[] = [];
  for (const c of names) {
    const chosen = imageFor(r, c, built, src, backupName);
    if ('refuse' in chosen) return chosen;
    images.push({ containerName: c, image: chosen.image });
    const { encryptedFor, archiveDigest } = chosen.built;
    checkpoints.push({
      containerName: c,
      ...(encryptedFor?.length ? { encryptedFor } : {}),
      ...(archiveDigest ? { archiveDigest } : {}),
    });
  }
  return { images, checkpoints };
}

function imageFor(
  r: CheckpointRestore,
  container: string,
  built: BuiltImage[],
  src: BackupCluster & { checkpointedPod: CheckpointedPod },
  backupName: string,
): { image: string; built: BuiltImage } | { refuse: Verdict } {
  const asked = r.spec.images?.find((x) => x.containerName === container)?.image;
  const registryNeeded = (image: string) =>
    refuse(
      'RegistryRequired',
      `image ${image} of container ${container} exists only in node ${src.checkpointedPod.node ?? '?'}'s local ` +
        'containers-storage, which no other node can pull: a registry is needed. Set spec.registry on the ' +
        'CheckpointBackup and checkpoint again',
    );
  if (asked) {
    if (isLocal(asked)) return { refuse: registryNeeded(asked) };
    // Only this backup's own checkpoint images (any of its containers': CRI-O refuses a checkpoint of another
    // container at restore): never an arbitrary image, run wherever the user likes with the backup's pull secret.
    const known = built.find((b) => b.imageName === asked || byDigest(b) === asked);
    if (!known)
      return {
        refuse: refuse(
          'ImageNotOfBackup',
          `image ${asked} of container ${container} is not a checkpoint image that ${backupName} pushed: give one ` +
            'of its status.builtImages, by name or by digest',
        ),
      };
    if (!known.pushed)
      return {
        refuse: refuse(
          'ImageNotPushed',
          `image ${asked} of container ${container} was built but never pushed`,
        ),
      };
    const digest = byDigest(known);
    return digest
      ? { image: digest, built: known }
      : {
          refuse: refuse(
            'ImageNotByDigest',
            `image ${asked} of container ${container} has no recorded digest`,
          ),
        };
  }
  const latest = latestPushed(built, container);
  if (!latest) {
    const local = built.find((b) => b.containerName === container && isLocal(b.imageName));
    if (local) return { refuse: registryNeeded(local.imageName) };
    const have = [...new Set(built.filter((b) => b.pushed).map((b) => b.containerName))];
    return {
      refuse: refuse(
        'MissingImage',
        `container ${container} of pod ${src.checkpointedPod.name} has no pushed checkpoint image in ${backupName} ` +
          `(images for: ${have.join(', ') || 'none'}); a restore needs one for every container: include ${container} ` +
          "in the backup's spec.containers (or leave that list empty) and checkpoint again",
      ),
    };
  }
  if (isLocal(latest.imageName)) return { refuse: registryNeeded(latest.imageName) };
  const digest = byDigest(latest);
  return digest
    ? { image: digest, built: latest }
    : {
        refuse: refuse(
          'ImageNotByDigest',
          `image ${latest.imageName} of container ${container} has no recorded digest`,
        ),
      };
}

/** Exactly one existing, Ready cluster: spec.targetCluster, else the one spec.placement selects. */
export const TARGET_CLUSTER_NOT_READY = 'TargetClusterNotReady';

export function targetCluster(r: CheckpointRestore, clusters: ClusterView[]): string | Refusal {
  const known =
    clusters
      .map((c) => c.name)
      .sort()
      .join(', ') || 'none';
  let name = r.spec.targetCluster;
  if (!name) {
    const aff = r.spec.placement?.clusterAffinity;
    if (!aff || (!aff.clusterNames?.length && !aff.labelSelector))
      return refuse(
        'NoTargetCluster',
        `set spec.targetCluster or spec.placement.clusterAffinity (clusters: ${known})`,
      );
    const picked = clusters
      .filter((c) => !aff.clusterNames?.length || aff.clusterNames.includes(c.name))
      .filter((c) => !aff.labelSelector || matchesLabelSelector(aff.labelSelector, c.labels))
      .map((c) => c.name)
      .sort();
    if (picked.length !== 1)
      return refuse(
        'TargetClusterAmbiguous',
        `spec.placement must pick exactly one cluster, it picks ${picked.length ? picked.join(', ') : 'none'} (clusters: ${known})`,
      );
    name = picked[0]!;
  }
  const c = clusters.find((x) => x.name === name);
  if (!c)
    return refuse(
      'TargetClusterNotFound',
      `target cluster ${name} is not a member cluster (clusters: ${known})`,
    );
  if (!c.ready)
    return refuse(
      TARGET_CLUSTER_NOT_READY,
      `target cluster ${name} is not Ready${c.message ? ` (${c.message})` : ''}; restore there once it is back, or pick another cluster`,
    );
  return name;
}

/** Migrate deletes a bare pod; a Deployment's or StatefulSet's pod would only come back, so those are scaled to 0. */
export function stopPlan(b: CheckpointBackup): StopPlan | { refuse: Refusal } {
  const ref = b.spec.resourceRef;
  if (!ref?.kind || ref.kind === 'Pod') return { method: 'DeletePod' };
  if (SCALABLE.includes(ref.kind))
    return {
      method: 'Scale',
      workload: { apiVersion: ref.apiVersion || 'apps/v1', kind: ref.kind, name: ref.name },
    };
  return {
    refuse: refuse(
      'CannotStopSource',
      `Migrate cannot stop a pod of ${ref.kind} ${ref.name}: its controller would start it again. Use mode Restore and stop the source yourself`,
    ),
  };
}

/** What Migrate's stop would reach, observed before anything is stopped. */
export interface SourceWorkload {
  /** spec.replicas of the workload where Migrate would scale it (the template on the hub, else the member's). */
  replicas?: number;
  /** The member clusters it runs in: its ResourceBinding's on the hub, else the source cluster alone. */
  clusters: string[];
}

/**
 * Migrate stops the checkpointed pod by scaling its workload to 0 (or deleting a bare pod, on the hub when it is a
 * template there). That stops only this pod when the workload has one replica in one cluster; with more replicas, or
 * with Karmada running it in several clusters, it would stop pods that were never checkpointed nor restored. Until
 * workload-level migration exists, such a Migrate is refused before anything is created or stopped.
 */
export function stopsOnlyThePod(
  stop: StopPlan,
  w: SourceWorkload,
  source: { namespace: string; pod: string; cluster: string },
): Refusal | undefined {
  const what =
    stop.method === 'Scale'
      ? `${stop.workload.kind} ${source.namespace}/${stop.workload.name}`
      : `pod ${source.namespace}/${source.pod}`;
  const instead =
    'migrating one pod of a workload is not supported yet: use mode Restore and stop the source yourself';
  const replicas = w.replicas ?? 1;
  if (stop.method === 'Scale' && replicas > 1)
    return refuse(
      'MigrateWouldStopOtherPods',
      `Migrate of pod ${source.pod}: scaling ${what} to 0 would stop all ${replicas} of its replicas, not only this ` +
        `pod; scale it to 1 replica first, or ${instead}`,
    );
  const clusters = [...new Set(w.clusters)].sort();
  if (clusters.length > 1)
    return refuse(
      'MigrateWouldStopOtherPods',
      `Migrate of pod ${source.pod}: Karmada runs ${what} in ${clusters.join(', ')}, and stopping it would stop it ` +
        `in every one of them, not only in ${source.cluster}; keep it in one cluster first, or ${instead}`,
    );
  return undefined;
}

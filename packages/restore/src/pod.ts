import {
  API_GROUP,
  API_VERSION,
  ARCHIVE_DIGESTS_ANNOTATION,
  CHECKPOINT_RESTORE_LABEL,
  formatArchiveDigests,
  labelValue,
  RESTORE_KIND,
  RESTORE_ALLOWED,
  type RestoreImage,
  objectName,
} from '@stateful-migration/api';
import type { RestorePlan } from './validate.js';

export const ANNOTATION = {
  sourceCluster: `${API_GROUP}/source-cluster`,
  sourcePod: `${API_GROUP}/source-pod`,
  backup: `${API_GROUP}/backup`,
  restore: `${API_GROUP}/restore`,
  /**
   * Variables whose values the restored process has from its checkpoint, not from the pod spec:
   * `container=NAME,NAME;container=NAME`. Literal env values are never recorded in status (issue 11); CRI-O restores
   * the process with the environment it had in memory (docs/adr/0002-env-of-restored-pods.md).
   */
  envFromCheckpoint: `${API_GROUP}/env-from-checkpoint`,
} as const;

/** The one label a restored pod carries until a migration hands the workload's labels over. */
export const RESTORE_LABEL = `${API_GROUP}/restore`;

export interface PodManifest {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    serviceAccountName: string;
    containers: Record<string, unknown>[];
    volumes?: Record<string, unknown>[];
    imagePullSecrets: { name: string }[];
    affinity?: Record<string, unknown>;
  };
}

/** Who asked for the restore: the CheckpointRestore and its backup, in the hub namespace. */
export interface RestoreRef {
  name: string;
  namespace: string;
  backup: string;
}

/**
 * The restored pod: every container of the source with the same name, its checkpoint image by digest, and the
 * same ports, env, mounts (CRI-O requires every checkpointed bind mount at the same path) and securityContext; the
 * source's volumes; the registry pull secret. It carries none of the source's labels, so no Service selects both
 * pods before a migration completes; annotations name the source cluster, pod and backup. Required node affinity
 * keeps it to nodes whose runtime restores (the label their agents publish, `checkpoint_restore`: elsewhere CRI-O
 * refuses to create a container from a checkpoint image) and, with a targetNode, to that node, so the member's
 * scheduler says Unschedulable instead of binding to a missing node or one that cannot restore.
 */
export function restoredPod(
  plan: RestorePlan,
  ref: RestoreRef,
  pullSecret: string,
  /** For encrypted images without a targetNode: the nodes holding their keys (nodesWithKeys). */
  keyNodes?: string[],
): PodManifest {
  const src = plan.source;
  const archiveDigests = formatArchiveDigests(
    Object.fromEntries(
      plan.checkpoints.filter((c) => c.archiveDigest).map((c) => [c.containerName, c.archiveDigest!]),
    ),
  );
  const imageOf = new Map(plan.images.map((i: RestoreImage) => [i.containerName, i.image]));
  const fromCheckpoint = src.containers
    .map((c) => ({
      name: c.name,
      vars: (c.env ?? []).filter((e) => !e.valueFrom).map((e) => String(e.name)),
    }))
    .filter((c) => c.vars.length)
    .map((c) => `${c.name}=${c.vars.join(',')}`)
    .join(';');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: plan.podName,
      // The restore's own namespace, never one its backup or status names (issue 11).
      namespace: plan.namespace,
      // The restore's name, hashed to 63 characters when longer (a name goes up to 253; labelValue).
      labels: { [RESTORE_LABEL]: labelValue(ref.name) },
      annotations: {
        [ANNOTATION.sourceCluster]: plan.sourceCluster,
        [ANNOTATION.sourcePod]: `${src.namespace}/${src.name}`,
        [ANNOTATION.backup]: `${ref.namespace}/${ref.backup}`,
        [ANNOTATION.restore]: `${ref.namespace}/${ref.name}`,
        ...(fromCheckpoint ? { [ANNOTATION.envFromCheckpoint]: fromCheckpoint } : {}),
        // What each container's checkpoint image must unpack to, as recorded at checkpoint time: the node checks.
        ...(archiveDigests ? { [ARCHIVE_DIGESTS_ANNOTATION]: archiveDigests } : {}),
      },
    },
    spec: {
      // A copied service-account token volume is valid only with its ServiceAccount named.
      serviceAccountName: src.serviceAccountName ?? 'default',
      containers: src.containers.map((c) => {
        const env = referencesOnly(c.env);
        return {
          name: c.name,
          image: imageOf.get(c.name)!,
          imagePullPolicy: 'IfNotPresent',
          ...(c.ports ? { ports: c.ports } : {}),
          ...(env.length ? { env } : {}),
          ...(c.volumeMounts ? { volumeMounts: c.volumeMounts } : {}),
          ...(c.securityContext ? { securityContext: c.securityContext } : {}),
        };
      }),
      ...(src.volumes ? { volumes: src.volumes } : {}),
      imagePullSecrets: [{ name: pullSecret }],
      affinity: restoreAffinity(plan.targetNode ? [plan.targetNode] : keyNodes),
    },
  };
}

/**
 * The env entries a restored pod carries: valueFrom references only. A name without a value would set the variable
 * to "" in the spec, which is not what the process has; a literal value is never in the record (and one an older
 * agent recorded is not copied either). CRI-O takes neither from the pod spec when it restores a checkpoint image.
 */
function referencesOnly(env: Record<string, unknown>[] | undefined): Record<string, unknown>[] {
  return (env ?? [])
    .filter((e) => e.valueFrom !== undefined)
    .map((e) => ({ name: e.name, valueFrom: e.valueFrom }));
}

/**
 * One nodeSelectorTerm, so its expressions all hold: the node restores, and is the targetNode if there is one (or,
 * for encrypted images, one of the nodes holding their keys).
 */
const restoreAffinity = (nodes: string[] | undefined) => ({
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [
        {
          matchExpressions: [{ key: CHECKPOINT_RESTORE_LABEL, operator: 'In', values: [RESTORE_ALLOWED] }],
          // By the Node's name, as the target check judged it (checkTargetNodes, nodesWithKeys): the
          // kubernetes.io/hostname label is the kubelet's hostname, which differs from the name wherever a cloud
          // provider or --hostname-override names the Node, and a pod pinned by it would never be scheduled.
          ...(nodes ? { matchFields: [{ key: 'metadata.name', operator: 'In', values: nodes }] } : {}),
        },
      ],
    },
  },
});

/** The pull secret's name: one per restore (its owners, restoreOwners, decide when it goes). */
export const pullSecretName = (restore: string): string => objectName(`${restore}-registry-pull`);

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/**
 * The owners of what a restore makes on the Karmada control plane (its pull secret and its PropagationPolicy): the
 * CheckpointRestore, and the restored pod once it exists. Kubernetes' garbage collector (kube-controller-manager on
 * the Karmada control plane) deletes an object once every owner is gone, and Karmada then withdraws the member copy
 * (the ResourceBinding is owned by its template; ownerReferences themselves never reach members: Karmada prunes
 * them from Works). So a failed restore's secret goes with the restore, and a restored pod keeps its pull
 * credentials for as long as it lives (a restarted container may pull again), then they go too. Same namespace as
 * the owners, which ownerReferences require and issue 11's own-namespace rule guarantees.
 */
export function restoreOwners(
  restore: { name: string; uid: string },
  pod?: { name: string; uid: string },
): OwnerReference[] {
  return [
    { apiVersion: API_VERSION, kind: RESTORE_KIND, name: restore.name, uid: restore.uid },
    ...(pod ? [{ apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid }] : []),
  ];
}

/** A kubernetes.io/dockerconfigjson secret for one registry, from the backup's registry credentials. */
export function pullSecret(
  name: string,
  namespace: string,
  registry: string,
  creds: { username: string; password: string },
  labels: Record<string, string>,
  owners: OwnerReference[] = [],
): Record<string, unknown> {
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  const config = { auths: { [registry]: { username: creds.username, password: creds.password, auth } } };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/dockerconfigjson',
    metadata: { name, namespace, labels, ...(owners.length ? { ownerReferences: owners } : {}) },
    data: { '.dockerconfigjson': Buffer.from(JSON.stringify(config)).toString('base64') },
  };
}

/**
 * Labels that identify one controller's replica: handing them over would let the source's ReplicaSet adopt the
 * restored pod (and, scaled to 0, delete it), so a migration hands over every label but these.
 */
const REPLICA_LABELS = [
  'pod-template-hash',
  'controller-revision-hash',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
];

/**
 * The labels a migration moves to the restored pod once the source is stopped; never RESTORE_LABEL (a source that was
 * itself restored carries an earlier restore's), which names the restore that created the pod.
 */
export function handoverLabels(source: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(source ?? {}).filter(([k]) => !REPLICA_LABELS.includes(k) && k !== RESTORE_LABEL),
  );
}

import { API_GROUP, KIND, PLURAL, SHORT_NAME } from './checkpoint-backup.js';
import { MAX_BUILT_IMAGES_PER_CONTAINER } from './built-images.js';
import { FRESH_REASONS } from './failover.js';
import { KEEP_STATE_LIMITS, keepStateCelRules } from './keep-state.js';
import { AGGREGATE_ONLY_PHASES, PHASES } from './phases.js';
import { workloadCelRules } from './workload.js';

export type Schema = Record<string, unknown>;

export const str = (description: string, extra: Schema = {}): Schema => ({
  type: 'string',
  description,
  ...extra,
});
export const obj = (
  description: string,
  properties: Record<string, Schema>,
  required: string[] = [],
): Schema => ({
  type: 'object',
  description,
  properties,
  ...(required.length ? { required } : {}),
});
export const list = (description: string, items: Schema, key?: string): Schema => ({
  type: 'array',
  description,
  items,
  ...(key ? { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] } : {}),
});
export const dateTime = (description: string): Schema => str(description, { format: 'date-time' });
/**
 * An object name as the API server makes them (a DNS-1123 subdomain): a reference names one object, never a path
 * (`../../other/secrets/x` would be another namespace's in a request path). The controllers check it too
 * (invalidNameRefusal), for objects stored before this rule.
 */
export const OBJECT_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const objectName = (description: string): Schema =>
  str(description, { minLength: 1, maxLength: 253, pattern: OBJECT_NAME_PATTERN });

export const objectRef = (description: string): Schema =>
  obj(description, { name: objectName('Name.'), namespace: str('Namespace; defaults as documented.') }, [
    'name',
  ]);

const labelSelector = obj('Cluster labels to match.', {
  matchLabels: {
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Labels that must be equal.',
  },
  matchExpressions: list(
    'Set-based requirements.',
    obj(
      'A requirement.',
      {
        key: str('Label key.'),
        operator: str('In, NotIn, Exists or DoesNotExist.', {
          enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
        }),
        values: { type: 'array', items: { type: 'string' } },
      },
      ['key', 'operator'],
    ),
  ),
});

const builtImage = obj(
  'An image.',
  {
    containerName: str('Container.'),
    imageName: str('Full image reference with its unique tag.'),
    digest: str('Manifest digest (sha256:...); for an encrypted image, known once it is pushed.'),
    buildTime: dateTime('When it was built.'),
    pushed: { type: 'boolean', description: 'Whether it is in the registry.' },
    encryptedFor: {
      type: 'array',
      items: { type: 'string' },
      description:
        "An encrypted image's recipients: sha256 of each public key's SubjectPublicKeyInfo. Absent for an image in clear.",
    },
    archiveDigest: str(
      'sha256 of the checkpoint archive as the kubelet wrote it (the layer before encryption); a restore checks the archive it unpacks against it.',
    ),
  },
  ['containerName', 'imageName'],
);

const builtImagesDropped = (of: string): Schema => ({
  type: 'integer',
  format: 'int64',
  description: `Entries dropped from ${of} over time to keep the object small (oldest first); their images were not deleted.`,
});

// --- Retention (issue 6) ---
const count = (description: string): Schema => ({ type: 'integer', minimum: 0, description });
const size = (description: string): Schema => ({
  'x-kubernetes-int-or-string': true,
  description: `${description} A quantity ("512Mi", "2Gi") or an integer in MiB; 0 is unlimited.`,
  // Structural int-or-string: anyOf exactly these two; pattern checks strings only, minimum numbers only.
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  minimum: 0,
  pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$',
});
const retentionSchema = obj(
  "Retention of this pod's checkpoints (archives on nodes, local images, registry tags); wins over the agent's defaults. 0 is unlimited.",
  {
    maxCheckpointsPerContainer: count('Checkpoints kept per container, newest first. Agent default 10.'),
    maxCheckpointsPerPod: count('Checkpoints kept per pod. Agent default 0.'),
    maxCheckpointsPerNamespace: count("Checkpoints kept in the pod's namespace. Agent default 0."),
    maxCheckpointSize: size('A checkpoint larger than this is deleted.'),
    maxTotalSizePerContainer: size("Total size of a container's checkpoints; oldest go first."),
    maxTotalSizePerPod: size("Total size of the pod's checkpoints; oldest go first."),
    maxTotalSizePerNamespace: size("Total size of the namespace's checkpoints; oldest go first."),
    retainOrphans: {
      type: 'boolean',
      description:
        'Keep archives and local images of pods that no longer exist. Default true. Registry images are never orphans.',
    },
  },
);

// --- keepState (issue 16): bounds and defaults here, the rules between fields in keepStateCelRules ---
const seconds = (description: string, l: { minimum: number; maximum: number; default: number }): Schema => ({
  type: 'integer',
  description: `${description} From ${l.minimum} to ${l.maximum}; default ${l.default}.`,
  minimum: l.minimum,
  maximum: l.maximum,
  default: l.default,
});
const keepStateSchema: Schema = {
  ...obj(
    "Keep this workload's state when its pods are moved for it: a workload-level backup with a registry only.",
    {
      eviction: obj(
        "Drain: an eviction of a pod of the workload waits (the Eviction API's retry answer) for a fresh checkpoint, and the replacement pod restores from it.",
        {
          timeoutSeconds: seconds(
            'The longest an eviction waits; then it proceeds without the state, and an Event says so.',
            KEEP_STATE_LIMITS.timeoutSeconds,
          ),
        },
      ),
      clusterFailover: obj(
        'Cluster failover: when Karmada moves the workload off a lost cluster, each replica restores from its latest pushed checkpoint in the cluster Karmada picks. Needs a cron schedule.',
        {
          maxAgeSeconds: seconds(
            'A checkpoint older than this when the move is decided is not used: that replica starts fresh.',
            KEEP_STATE_LIMITS.maxAgeSeconds,
          ),
        },
      ),
    },
  ),
  minProperties: 1,
};

const specSchema = obj(
  'What to checkpoint, when, and where its images go.',
  {
    schedule: str('"immediately" (once per generation) or a 5-field cron expression (every tick).', {
      minLength: 1,
    }),
    timeZone: str('IANA time zone of the cron schedule. Default UTC.'),
    podRef: objectRef(
      "The pod to checkpoint; its namespace defaults to this object's. Omit it, with a Deployment or StatefulSet in resourceRef, to checkpoint every pod of that workload in every cluster where it runs.",
    ),
    resourceRef: obj(
      'The workload that owns the pod; without podRef, the Deployment or StatefulSet (apps/v1) whose pods are all checkpointed.',
      {
        apiVersion: str('API version, e.g. apps/v1.'),
        kind: str('Kind, e.g. Deployment.'),
        name: objectName('Name.'),
        namespace: str("Namespace; defaults to this object's."),
      },
      ['name'],
    ),
    containers: list(
      'Containers to checkpoint; empty means every container of the pod.',
      obj(
        'A container.',
        { name: str('Container name.', { minLength: 1 }), image: str('Its image (informational).') },
        ['name'],
      ),
    ),
    registry: obj(
      'Where to push checkpoint images. Without it, images stay on the node as localhost/checkpoint-<pod>-<container>:<tag>.',
      {
        url: str('Registry host[:port].', { minLength: 1 }),
        repository: str('Repository under the registry.', { minLength: 1 }),
        secretRef: objectRef(
          'Secret with keys username, password (and optionally registry). Default stateful-migration/registry-credentials.',
        ),
      },
      ['url', 'repository'],
    ),
    stopPod: { type: 'boolean', description: 'Delete the pod after a successful checkpoint. Default false.' },
    placement: obj(
      "Hub only: the member clusters to act in. Without it, the clusters where resourceRef's workload runs.",
      {
        clusterAffinity: obj('Clusters by name and/or labels, as in a PropagationPolicy.', {
          clusterNames: { type: 'array', items: { type: 'string' }, description: 'Cluster names.' },
          labelSelector: labelSelector,
        }),
      },
    ),
    retention: retentionSchema,
    encryption: obj(
      "Push the checkpoint images encrypted (OCI image encryption, ocicrypt's JWE scheme, as skopeo --encryption-key jwe:): only holders of a recipient's private key can read them. Needs registry.",
      {
        publicKeysRef: obj(
          "The recipients: a Secret or ConfigMap in this object's namespace, each data key holding one PEM public key (RSA of 2048 bits or more, or EC P-256, P-384 or P-521).",
          {
            kind: str('Secret or ConfigMap.', { enum: ['Secret', 'ConfigMap'] }),
            name: objectName('Its name.'),
          },
          ['kind', 'name'],
        ),
      },
      ['publicKeysRef'],
    ),
    keepState: keepStateSchema,
  },
  ['schedule', 'resourceRef'],
);
specSchema['x-kubernetes-validations'] = [
  {
    rule: '!has(self.encryption) || has(self.registry)',
    message: 'spec.encryption needs spec.registry: only images pushed to a registry are encrypted',
  },
  ...workloadCelRules('self').map((r) => ({ rule: r.expression, message: r.message })),
  ...keepStateCelRules('self').map((r) => ({ rule: r.expression, message: r.message })),
];

// --- status.checkpointedPod: what restore needs, recorded at checkpoint time (issue 5) ---
const k8sObject = (description: string): Schema => ({
  type: 'object',
  description,
  'x-kubernetes-preserve-unknown-fields': true,
});
/** The pod as the agent saw it at the last checkpoint; the hub copies it into status.clusters[] entries. */
export const checkpointedPodSchema: Schema = obj(
  'The checkpointed pod as its spec had it; a restore rebuilds the pod from this.',
  {
    name: str('Pod name.'),
    namespace: str('Pod namespace.'),
    uid: str('Pod UID.'),
    node: str('Node it ran on.'),
    labels: { type: 'object', additionalProperties: { type: 'string' }, description: 'Pod labels.' },
    serviceAccountName: str('Its ServiceAccount (its token volume needs the same name on restore).'),
    containers: list(
      'Containers, as in the pod spec.',
      obj(
        'A container.',
        {
          name: str('Container name.'),
          image: str('The original image (the base CRI-O restores on).'),
          ports: { type: 'array', items: k8sObject('A ContainerPort.'), description: 'Ports.' },
          env: {
            type: 'array',
            items: k8sObject("An EnvVar's name, and its valueFrom reference if any; never a literal value."),
            description:
              'Environment: names and references only, since status travels to the Karmada control plane. The ' +
              'restored process has the values it had in memory.',
          },
          volumeMounts: {
            type: 'array',
            items: k8sObject('A VolumeMount.'),
            description: 'Mounts; CRI-O needs each at the same path on restore.',
          },
          securityContext: k8sObject('The container securityContext.'),
        },
        ['name', 'image'],
      ),
    ),
    volumes: { type: 'array', items: k8sObject('A Volume.'), description: 'Pod volumes.' },
  },
  ['name', 'namespace', 'containers'],
);

export const conditionsSchema: Schema = list(
  'Standard conditions.',
  obj(
    'A condition.',
    {
      type: str('Type.'),
      status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
      reason: str('Machine-readable reason.'),
      message: str('Human-readable message.'),
      lastTransitionTime: dateTime('When the status last changed.'),
      observedGeneration: { type: 'integer', format: 'int64' },
    },
    ['type', 'status'],
  ),
  'type',
);

/** One pod of a workload-level backup in one cluster (members' status.replicas, the hub's clusters[].replicas). */
const replicasSchema: Schema = list(
  'A workload-level backup: each pod of the workload in this cluster, from the CheckpointBackup the agents made for it.',
  obj(
    'A pod of the workload.',
    {
      pod: str('Pod name.'),
      backup: str("The member's CheckpointBackup for this pod (owned by the workload-level one)."),
      node: str('Node it runs on (or ran on last).'),
      ordinal: { type: 'integer', description: "A StatefulSet pod's ordinal." },
      phase: str("Its CheckpointBackup's phase; Pending before its first run."),
      message: str('What happened.'),
      present: { type: 'boolean', description: 'False once the pod is gone; its last record is kept.' },
      lastCheckpointTime: dateTime('Its last checkpoint.'),
      images: list('The newest image of each container (by digest once pushed).', builtImage),
      checkpointedPod: checkpointedPodSchema,
    },
    ['pod', 'backup', 'phase', 'present'],
  ),
  'pod',
);

/** status.lastFailover (failover.ts): what the webhook restores from and what people read. */
const lastFailoverSchema: Schema = obj(
  'Hub only, keepState.clusterFailover: the last time Karmada moved the workload off a lost cluster, and what each replica came back from.',
  {
    time: dateTime("When Karmada evicted the workload (its eviction task's creationTimestamp)."),
    decidedAt: dateTime('When the hub decided; ages are measured at this instant.'),
    fromClusters: { type: 'array', items: { type: 'string' }, description: 'The lost clusters.' },
    notLostClusters: {
      type: 'array',
      items: { type: 'string' },
      description:
        'Clusters Karmada evicted it from that were not lost (still Ready, or not a taint eviction): nothing restored from them.',
    },
    reason: str(
      'NotAClusterFailure: no evicted cluster was lost, so the eviction was not treated as a failover.',
      {
        enum: ['NotAClusterFailure'],
      },
    ),
    toClusters: { type: 'array', items: { type: 'string' }, description: 'Where Karmada runs it now.' },
    evictionReason: str("Karmada's reason for the eviction, e.g. TaintUntolerated."),
    replicas: list(
      'Every replica that ran in the lost clusters.',
      obj(
        'A replica.',
        {
          pod: str('The pod that ran in fromCluster.'),
          ordinal: { type: 'integer', description: 'Its StatefulSet ordinal.' },
          fromCluster: str('Where it ran.'),
          backup: str('The member CheckpointBackup that checkpointed it.'),
          toCluster: str('Where its replacement is created.'),
          images: list('Restored: the image of each container, by digest.', builtImage),
          checkpointTime: dateTime('Restored: when its state was taken.'),
          stateAgeSeconds: { type: 'integer', description: 'Restored: how old its state was.' },
          reason: str('Not restored: why.', { enum: [...FRESH_REASONS] }),
          message: str('Not restored: why, in words.'),
        },
        ['pod', 'fromCluster', 'backup'],
      ),
    ),
    restored: { type: 'integer', description: 'Replicas restored from a checkpoint.' },
    startedFresh: { type: 'integer', description: 'Replicas recreated without their state.' },
    stateAgeSeconds: { type: 'integer', description: 'The oldest state restored, in seconds.' },
    message: str('What happened, in one line.'),
  },
  ['time', 'fromClusters', 'replicas', 'message'],
);

const statusSchema = obj('What the agent observed and did.', {
  phase: str('Where the last run is (members); the aggregate over clusters (hub).', {
    enum: [...PHASES, ...AGGREGATE_ONLY_PHASES],
  }),
  message: str('What happened, in words a user can act on.'),
  observedGeneration: {
    type: 'integer',
    format: 'int64',
    description: 'The generation the status describes.',
  },
  lastCheckpointTime: dateTime('When the last checkpoint was taken.'),
  nextScheduledTime: dateTime('When the next cron tick is due.'),
  run: obj('The run in progress, or the last one; a restarted agent resumes from it.', {
    id: str('Unique per run; the tag of its images.'),
    startedAt: dateTime('When it started.'),
    generation: { type: 'integer', format: 'int64', description: 'The spec generation it serves.' },
    node: str('The node whose agent runs it.'),
    tick: dateTime('The cron tick it serves.'),
    containers: { type: 'array', items: { type: 'string' }, description: 'Containers it checkpoints.' },
    failures: { type: 'integer', description: 'Failed attempts at this generation so far.' },
  }),
  conditions: conditionsSchema,
  checkpointFiles: list(
    'Archives written by the kubelet and not yet turned into images.',
    obj(
      'An archive.',
      {
        containerName: str('Container.'),
        filePath: str('Path on the node.'),
        checkpointTime: dateTime('When it was taken.'),
      },
      ['containerName', 'filePath'],
    ),
  ),
  builtImages: list(
    `Checkpoint images built, newest run last: the newest ${MAX_BUILT_IMAGES_PER_CONTAINER} per container (older entries leave status, not the registry).`,
    builtImage,
  ),
  builtImagesDropped: builtImagesDropped('builtImages'),
  clusters: list(
    "Hub only: each placed member cluster's status, brought back by the hub controller.",
    obj(
      "A member cluster's status.",
      {
        name: str('Cluster name.'),
        phase: str('The member phase; Pending before it reports, Unknown while the cluster is not Ready.'),
        message: str('What happened there.'),
        lastCheckpointTime: dateTime('Its last checkpoint.'),
        builtImages: list('Its images.', builtImage),
        builtImagesDropped: builtImagesDropped('its builtImages'),
        replicas: replicasSchema,
        replicasCompleted: str('A workload-level backup: completed over present replicas there.'),
        applied: { type: 'boolean', description: 'Whether Karmada applied the object in the cluster.' },
        node: str('Node of its last run.'),
        pod: str('Pod of its last run.'),
        checkpointedPod: checkpointedPodSchema,
      },
      ['name', 'phase'],
    ),
    'name',
  ),
  clustersReady: str('Hub only: finished clusters over placed clusters, e.g. 1/2.'),
  replicas: replicasSchema,
  replicasCompleted: str(
    'A workload-level backup: replicas whose last run completed over the replicas present (on the hub: in every cluster), e.g. 4/4.',
  ),
  placement: obj('Hub only: where the hub placed the object, and why.', {
    clusters: { type: 'array', items: { type: 'string' } },
    by: str('placement, workload, pod or policy.'),
    policy: str("A user's PropagationPolicy that selects the object, when one does."),
  }),
  checkpointedPod: checkpointedPodSchema,
  lastFailover: lastFailoverSchema,
});

/** The CheckpointBackup CustomResourceDefinition, as applied to members (deploy/) and to Karmada (karmada/). */
export function checkpointBackupCrd(): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        plural: PLURAL,
        singular: 'checkpointbackup',
        kind: KIND,
        listKind: `${KIND}List`,
        shortNames: [SHORT_NAME],
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            // Clusters is filled on the hub (finished/placed), empty in members; one CRD serves both, because
            // Karmada carries the hub's CRD to the members.
            { name: 'Clusters', type: 'string', jsonPath: '.status.clustersReady' },
            // A workload-level backup's pods (completed/present, over every cluster on the hub); empty for one pod.
            { name: 'Replicas', type: 'string', jsonPath: '.status.replicasCompleted' },
            { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
            { name: 'Last Checkpoint', type: 'date', jsonPath: '.status.lastCheckpointTime' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            { name: 'Node', type: 'string', jsonPath: '.status.run.node', priority: 1 },
            { name: 'Kind', type: 'string', jsonPath: '.spec.resourceRef.kind', priority: 1 },
            { name: 'Workload', type: 'string', jsonPath: '.spec.resourceRef.name', priority: 1 },
            // keepState (issue 16): the failover opt-in's bound, and when Karmada last moved the workload with state.
            {
              name: 'Failover Max Age',
              type: 'integer',
              jsonPath: '.spec.keepState.clusterFailover.maxAgeSeconds',
              priority: 1,
            },
            { name: 'Last Failover', type: 'date', jsonPath: '.status.lastFailover.time', priority: 1 },
          ],
          schema: {
            openAPIV3Schema: obj(
              "Checkpoints a pod's containers into OCI images, once or on a cron schedule.",
              {
                apiVersion: str('API version.'),
                kind: str('Kind.'),
                metadata: { type: 'object' },
                spec: specSchema,
                status: statusSchema,
              },
              ['spec'],
            ),
          },
        },
      ],
    },
  };
}

// --- Shared by the CRDs of the family (issue 5 added it for CheckpointRestore; checkpointBackupCrd can move onto it) ---

export interface CrdInput {
  group: string;
  plural: string;
  singular: string;
  kind: string;
  shortNames: string[];
  printerColumns: Schema[];
  description: string;
  spec: Schema;
  status: Schema;
}

/** A namespaced, single-version (v1) CRD with a status subresource. */
export function customResourceDefinition(c: CrdInput): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${c.group}` },
    spec: {
      group: c.group,
      scope: 'Namespaced',
      names: {
        plural: c.plural,
        singular: c.singular,
        kind: c.kind,
        listKind: `${c.kind}List`,
        shortNames: c.shortNames,
      },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: c.printerColumns,
          schema: {
            openAPIV3Schema: obj(
              c.description,
              {
                apiVersion: str('API version.'),
                kind: str('Kind.'),
                metadata: { type: 'object' },
                spec: c.spec,
                status: c.status,
              },
              ['spec'],
            ),
          },
        },
      ],
    },
  };
}

import { API_GROUP, KIND, PLURAL, SHORT_NAME } from './checkpoint-backup.js';
import { AGGREGATE_ONLY_PHASES, PHASES } from './phases.js';

type Schema = Record<string, unknown>;

const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const obj = (description: string, properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  description,
  properties,
  ...(required.length ? { required } : {}),
});
const list = (description: string, items: Schema, key?: string): Schema => ({
  type: 'array',
  description,
  items,
  ...(key ? { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] } : {}),
});
const dateTime = (description: string): Schema => str(description, { format: 'date-time' });
const objectRef = (description: string): Schema =>
  obj(
    description,
    { name: str('Name.', { minLength: 1 }), namespace: str('Namespace; defaults as documented.') },
    ['name'],
  );

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
    digest: str('Manifest digest (sha256:...).'),
    buildTime: dateTime('When it was built.'),
    pushed: { type: 'boolean', description: 'Whether it is in the registry.' },
  },
  ['containerName', 'imageName'],
);

const specSchema = obj(
  'What to checkpoint, when, and where its images go.',
  {
    schedule: str('"immediately" (once per generation) or a 5-field cron expression (every tick).', {
      minLength: 1,
    }),
    timeZone: str('IANA time zone of the cron schedule. Default UTC.'),
    podRef: objectRef("The pod to checkpoint; its namespace defaults to this object's."),
    resourceRef: obj(
      'The workload that owns the pod.',
      {
        apiVersion: str('API version, e.g. apps/v1.'),
        kind: str('Kind, e.g. Deployment.'),
        name: str('Name.', { minLength: 1 }),
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
  },
  ['schedule', 'podRef', 'resourceRef'],
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
  conditions: list(
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
  ),
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
  builtImages: list('Checkpoint images built, newest run last.', builtImage),
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
        applied: { type: 'boolean', description: 'Whether Karmada applied the object in the cluster.' },
        node: str('Node of its last run.'),
        pod: str('Pod of its last run.'),
        checkpointedPod: {
          type: 'object',
          description: 'What the agent recorded of the pod at checkpoint time.',
          'x-kubernetes-preserve-unknown-fields': true,
        },
      },
      ['name', 'phase'],
    ),
    'name',
  ),
  clustersReady: str('Hub only: finished clusters over placed clusters, e.g. 1/2.'),
  placement: obj('Hub only: where the hub placed the object, and why.', {
    clusters: { type: 'array', items: { type: 'string' } },
    by: str('placement, workload, pod or policy.'),
    policy: str("A user's PropagationPolicy that selects the object, when one does."),
  }),
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
            { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule' },
            { name: 'Last Checkpoint', type: 'date', jsonPath: '.status.lastCheckpointTime' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            { name: 'Node', type: 'string', jsonPath: '.status.run.node', priority: 1 },
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

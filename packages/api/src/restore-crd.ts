import { API_GROUP } from './checkpoint-backup.js';
import {
  RESTORE_KIND,
  RESTORE_MODES,
  RESTORE_PHASES,
  RESTORE_PLURAL,
  RESTORE_SHORT_NAME,
} from './checkpoint-restore.js';
import {
  conditionsSchema,
  customResourceDefinition,
  dateTime,
  list,
  obj,
  objectName,
  str,
  type Schema,
} from './crd.js';

const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });

const images = (description: string): Schema =>
  list(
    description,
    obj(
      'The image of one container.',
      {
        containerName: str('Container name.', { minLength: 1 }),
        image: str('Image reference.', { minLength: 1 }),
      },
      ['containerName', 'image'],
    ),
    'containerName',
  );

const labelSelector = obj('Cluster labels to match, as in a PropagationPolicy.', {
  matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
  matchExpressions: {
    type: 'array',
    items: obj(
      'A requirement.',
      {
        key: str('Label key.'),
        operator: str('Operator.', { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
        values: { type: 'array', items: { type: 'string' } },
      },
      ['key', 'operator'],
    ),
  },
});

const specSchema = obj(
  'Which checkpoint to bring back, and where.',
  {
    backupRef: obj('A CheckpointBackup in this namespace.', { name: objectName('Name.') }, ['name']),
    images: images(
      'Restore only: images to restore per container. Default: the latest pushed image of every container. ' +
        'Migrate restores the fresh checkpoint it takes and refuses this field.',
    ),
    targetCluster: str('The member cluster to restore into.'),
    placement: obj('Instead of targetCluster: cluster affinity that must pick exactly one cluster.', {
      clusterAffinity: obj('As in a PropagationPolicy.', {
        clusterNames: { type: 'array', items: { type: 'string' } },
        labelSelector,
      }),
    }),
    targetNode: objectName('Pin the restored pod to this node.'),
    mode: str(
      "Restore copies the backup's checkpoint (state as of that checkpoint) and leaves the source running; Migrate " +
        'takes a fresh checkpoint, stops the source pod right after it and restores that (state as of the moment ' +
        'the source stopped). Default Restore.',
      {
        enum: [...RESTORE_MODES],
        default: 'Restore',
      },
    ),
    podName: objectName('Name of the restored pod. Default <source pod>-restored.'),
    timeoutSeconds: int('Seconds the restored pod may take to run before the restore fails. Default 300.', {
      minimum: 1,
    }),
    rollback: {
      type: 'boolean',
      description:
        "A workload migration only: give the workload back to the user's own policy, its pods there coming up from " +
        "the migration's checkpoints.",
    },
  },
  ['backupRef'],
);

const statusSchema = obj('What the restore controller observed and did.', {
  phase: str('Where the restore is.', { enum: [...RESTORE_PHASES] }),
  message: str('What happened, in words a user can act on.'),
  reason: str('Machine-readable reason of the phase.'),
  observedGeneration: int('The generation the status describes.', { format: 'int64' }),
  sourceCluster: str('The member cluster the checkpoint was taken in.'),
  restoredPod: obj('The restored pod.', {
    cluster: str('Member cluster.'),
    namespace: str('Namespace.'),
    name: str('Name.'),
    uid: str('The uid of the pod this restore created on the Karmada control plane.'),
    node: str('Node.'),
  }),
  images: images('The images the restored pod runs.'),
  submittedTime: dateTime('When the restored pod was submitted.'),
  restoredTime: dateTime('When it was Running and Ready.'),
  completionTime: dateTime('When the restore (or migration) finished.'),
  sourceStop: obj('How Migrate stops the source; recorded before acting.', {
    cluster: str('Source cluster.'),
    namespace: str('Source namespace.'),
    method: str('DeletePod or Scale.', { enum: ['DeletePod', 'Scale'] }),
    pod: str('Source pod.'),
    podUid: str("The checkpointed pod's uid: DeletePod deletes that pod only."),
    onHub: { type: 'boolean', description: 'Acted on the Karmada template (true) or in the member (false).' },
    workload: obj('The workload scaled to 0.', {
      apiVersion: str('API version.'),
      kind: str('Kind.'),
      name: str('Name.'),
      replicas: int('Replicas before scaling.'),
    }),
    stoppedTime: dateTime('When the source was stopped.'),
    labelsHandedOverTime: dateTime("When the workload's labels moved to the restored pod."),
  }),
  checkpoint: obj(
    'Migrate only: the fresh checkpoint taken for this migration (a CheckpointBackup it owns).',
    {
      backup: str('The CheckpointBackup of this checkpoint.'),
      cluster: str('The member cluster whose pod is checkpointed and stopped.'),
      pod: str('The pod checkpointed.'),
      targetCluster: str('The target cluster chosen when the migration began.'),
      requestedTime: dateTime('When the checkpoint was asked for.'),
      checkpointTime: dateTime('When the checkpoint was taken; the restored state is of then.'),
      sourceStoppedTime: dateTime('When the source pod was reported deleted after its checkpoint.'),
    },
  ),
  workload: obj('A workload migration: the workload, the clusters, and how far it is.', {
    apiVersion: str('API version.'),
    kind: str('Deployment or StatefulSet.', { enum: ['Deployment', 'StatefulSet'] }),
    name: str('Name.'),
    sourceCluster: str('Where it ran.'),
    targetCluster: str('Where it moves.'),
    targetNode: str('The node every pod in the target runs on (spec.targetNode).'),
    replicas: int('Replicas when the migration began.'),
    policy: str("The migration's PropagationPolicy."),
    into: str("Where the workload's pods come up from their checkpoints (the source once rolled back)."),
    from: str('Where no pod of the workload may run while they start.'),
    placedTime: dateTime("When the migration's policy was created, recorded just before it is."),
    fromStoppedTime: dateTime('When `from` was seen running no pod of the workload; the gates are removed.'),
    rollbackTime: dateTime('When spec.rollback was acted on.'),
  }),
  replicas: list(
    'A workload migration: each replica, by the source pod whose checkpoint it runs.',
    obj(
      'One replica.',
      {
        name: str('The source pod whose checkpoint this is.'),
        ordinal: int('A StatefulSet pod ordinal.'),
        images: images('Its checkpoint images, by digest.'),
        checkpointTime: dateTime('When it was checkpointed.'),
        pod: str('The pod that runs it now.'),
        node: str('Its node.'),
        phase: str('Pending, Restoring, Running or Failed.', {
          enum: ['Pending', 'Restoring', 'Running', 'Failed'],
        }),
        reason: str('Why, when Failed or waiting.'),
        message: str('What was seen.'),
      },
      ['name'],
    ),
    'name',
  ),
  cleanupSkipped: list(
    'A workload migration that ended or was deleted with a member unreachable: what was left there, and why.',
    obj(
      'One member.',
      {
        cluster: str('The member cluster.'),
        reason: str(
          'ClusterLost (nothing was done there) or GatesKept (the other member may still run the workload).',
        ),
        message: str('What was left, and what to do.'),
      },
      ['cluster'],
    ),
    'cluster',
  ),
  conditions: conditionsSchema,
});

/** The CheckpointRestore CustomResourceDefinition; it lives on the Karmada control plane only (karmada/). */
export function checkpointRestoreCrd(): Schema {
  return customResourceDefinition({
    group: API_GROUP,
    plural: RESTORE_PLURAL,
    singular: 'checkpointrestore',
    kind: RESTORE_KIND,
    shortNames: [RESTORE_SHORT_NAME],
    printerColumns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
      { name: 'Backup', type: 'string', jsonPath: '.spec.backupRef.name' },
      { name: 'Source', type: 'string', jsonPath: '.status.sourceCluster' },
      { name: 'Target', type: 'string', jsonPath: '.status.restoredPod.cluster' },
      { name: 'Pod', type: 'string', jsonPath: '.status.restoredPod.name' },
      { name: 'Node', type: 'string', jsonPath: '.status.restoredPod.node', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
    description: 'Brings a checkpointed pod back from its checkpoint images, in any member cluster.',
    spec: specSchema,
    status: statusSchema,
  });
}

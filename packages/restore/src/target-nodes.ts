import {
  DECRYPTION_KEYS_ANNOTATION,
  CHECKPOINT_RESTORE_LABEL,
  RESTORE_ALLOWED,
  UNKNOWN_SETTING,
  isCheckpointRestoreSetting,
} from '@stateful-migration/api';
import type { CheckpointRecord, Refusal, RestorePlan } from './validate.js';

/** A Node of the target cluster as the restore check needs it. */
export interface NodeView {
  name: string;
  ready: boolean;
  /** spec.unschedulable: no new pod lands there. */
  cordoned: boolean;
  /** The label the node's agent publishes (migration.dcnlab.com/checkpoint-restore); undefined when none did. */
  setting?: string;
  /**
   * The thumbprints of the private keys its runtime can decrypt with (the annotation its agent publishes,
   * migration.dcnlab.com/decryption-keys); undefined when no agent has published any.
   */
  keys?: string[];
}

/** A Node as the member apiserver returns it. */
export interface KubeNode {
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}

export function nodeView(n: KubeNode): NodeView {
  const setting = n.metadata.labels?.[CHECKPOINT_RESTORE_LABEL];
  const keys = n.metadata.annotations?.[DECRYPTION_KEYS_ANNOTATION];
  return {
    name: n.metadata.name,
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    cordoned: n.spec?.unschedulable === true,
    ...(setting !== undefined ? { setting } : {}),
    ...(keys !== undefined ? { keys: keys.split(',').filter(Boolean) } : {}),
  };
}

/** The one reason for "the target cannot run a restored pod": a node, or every usable node, refuses restores. */
export const TARGET_CANNOT_RESTORE = 'TargetCannotRestore';
export const TARGET_NODE_NOT_FOUND = 'TargetNodeNotFound';
/** The node (or every node that could restore) holds no private key for an encrypted checkpoint image. */
export const TARGET_CANNOT_DECRYPT = 'TargetCannotDecrypt';

/** Nodes named in a refusal; more would make a message no one reads. */
const LISTED = 10;

const WHAT_TO_SET = `[crio.checkpoint_restore] container_level_enabled = "${RESTORE_ALLOWED}"`;

/**
 * Whether the target can run the restored pod, from what each node's agent published about its runtime (CRI-O's
 * `container_level_enabled`; only `checkpoint_restore` creates a container from a checkpoint image). Asked before
 * anything is created or stopped, so a restore, and above all a migration, that could never start is refused while
 * the source still runs, with a message that says what to change. The restored pod also requires the label by node
 * affinity (pod.ts): this check is what turns a pod that would stay Pending into a refusal a user can act on.
 *
 * - With spec.targetNode: that node must exist and its label must say `checkpoint_restore`. Its readiness is not
 *   judged here (the scheduler waits for a node that comes back; the restore's timeout covers one that does not).
 * - Without: some Ready, uncordoned node of the cluster must say `checkpoint_restore`; the message lists the nodes
 *   with their settings.
 */
export function checkTargetNodes(
  plan: Pick<RestorePlan, 'targetCluster' | 'targetNode'> & Partial<Pick<RestorePlan, 'checkpoints'>>,
  nodes: NodeView[],
): Refusal | undefined {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  const encrypted = (plan.checkpoints ?? []).filter((c) => c.encryptedFor?.length);
  if (plan.targetNode) {
    const node = sorted.find((n) => n.name === plan.targetNode);
    if (!node)
      return refuse(
        TARGET_NODE_NOT_FOUND,
        `target node ${plan.targetNode} is not a node of cluster ${plan.targetCluster} (nodes: ${
          list(sorted.map((n) => n.name)) || 'none'
        }); fix spec.targetNode, or leave it out to let the scheduler pick a node that allows restores`,
      );
    if (node.setting !== RESTORE_ALLOWED) return refuse(TARGET_CANNOT_RESTORE, nodeRefusal(node));
    const locked = cannotOpen(encrypted, node.keys);
    return locked.length
      ? refuse(
          TARGET_CANNOT_DECRYPT,
          `node ${node.name} holds no private key for ${describeLocked(locked)} (its keys: ${keysOf(node)}); ${HOW_TO_ADD_KEY}, or pick another targetNode`,
        )
      : undefined;
  }
  const restoring = sorted.filter((n) => n.ready && !n.cordoned && n.setting === RESTORE_ALLOWED);
  if (restoring.length) {
    if (!encrypted.length || restoring.some((n) => !cannotOpen(encrypted, n.keys).length)) return undefined;
    return refuse(
      TARGET_CANNOT_DECRYPT,
      `no node of cluster ${plan.targetCluster} that can restore holds a private key for ` +
        `${describeLocked(encrypted)} (${list(restoring.map((n) => `${n.name} (keys: ${keysOf(n)})`))}); ` +
        `${HOW_TO_ADD_KEY} on one of them, or pick another target cluster`,
    );
  }
  if (!sorted.length)
    return refuse(
      TARGET_CANNOT_RESTORE,
      `cluster ${plan.targetCluster} has no nodes to restore on; pick another target cluster`,
    );
  return refuse(
    TARGET_CANNOT_RESTORE,
    `no Ready, schedulable node of cluster ${plan.targetCluster} allows restores (${list(sorted.map(describeNode))}); set ` +
      `CRI-O's ${WHAT_TO_SET} on one of them (its agent publishes it as the Node label ${CHECKPOINT_RESTORE_LABEL} ` +
      'within a minute) and create the restore again, or pick another target cluster',
  );
}

/**
 * The nodes a restored pod of encrypted images may be scheduled to: Ready, uncordoned, restoring and holding a key
 * for every encrypted image (its required node affinity lists them by hostname, since a key is an annotation, not
 * a label). Undefined when no image is encrypted (the label alone decides) or when spec.targetNode decides.
 */
export function nodesWithKeys(
  plan: Pick<RestorePlan, 'targetNode' | 'checkpoints'>,
  nodes: NodeView[],
): string[] | undefined {
  const encrypted = plan.checkpoints.filter((c) => c.encryptedFor?.length);
  if (plan.targetNode || !encrypted.length) return undefined;
  return nodes
    .filter(
      (n) => n.ready && !n.cordoned && n.setting === RESTORE_ALLOWED && !cannotOpen(encrypted, n.keys).length,
    )
    .map((n) => n.name)
    .sort();
}

const HOW_TO_ADD_KEY =
  "place one of the recipients' private keys in the node runtime's decryption keys directory (CRI-O's " +
  '[crio.image] decryption_keys_path, default /etc/crio/keys; its agent publishes it as the Node annotation ' +
  `${DECRYPTION_KEYS_ANNOTATION} within a minute) and create the restore again`;

/** The encrypted images a node with `keys` could not decrypt. */
function cannotOpen(encrypted: CheckpointRecord[], keys: string[] | undefined): CheckpointRecord[] {
  return encrypted.filter((c) => !c.encryptedFor!.some((k) => keys?.includes(k)));
}

/** `the encrypted checkpoint image of container app (encrypted for sha256:..)`. */
function describeLocked(locked: CheckpointRecord[]): string {
  return locked
    .map(
      (c) =>
        `${c.containerName ? `the encrypted checkpoint image of container ${c.containerName}` : 'the encrypted checkpoint images'} (encrypted for ${c.encryptedFor!.join(', ')})`,
    )
    .join(' and ');
}

const keysOf = (n: NodeView): string =>
  n.keys === undefined ? 'unknown: no agent has published them' : n.keys.join(', ') || 'none';

const refuse = (reason: string, message: string): Refusal => ({ kind: 'refuse', reason, message });

function list(items: string[]): string {
  const more = items.length - LISTED;
  return items.slice(0, LISTED).join(', ') + (more > 0 ? `, and ${more} more` : '');
}

/** What a node's label says, for a message: the runtime's setting, or why it is unknown. */
function settingOf(setting: string | undefined): string {
  if (setting === undefined) return 'unknown: no agent has published it';
  if (setting === UNKNOWN_SETTING) return 'unknown: its agent found no CRI-O configuration it could read';
  if (isCheckpointRestoreSetting(setting)) return setting;
  return `${CHECKPOINT_RESTORE_LABEL}=${JSON.stringify(setting)}, not a setting`;
}

/** `m2-a (checkpoint_only)`, `m2-b (checkpoint_restore, NotReady)`, `m2-c (unknown: no agent has published it)`. */
function describeNode(n: NodeView): string {
  const state = [!n.ready ? 'NotReady' : '', n.cordoned ? 'cordoned' : ''].filter(Boolean);
  return `${n.name} (${[settingOf(n.setting), ...state].join(', ')})`;
}

/** Why the target node refuses, and what to change there. */
function nodeRefusal(n: NodeView): string {
  const instead = 'or pick another targetNode';
  if (isCheckpointRestoreSetting(n.setting))
    return (
      `node ${n.name}'s runtime does not allow restores (CRI-O [crio.checkpoint_restore] container_level_enabled = ` +
      `"${n.setting}"); set it to "${RESTORE_ALLOWED}" on that node, ${instead}`
    );
  if (n.setting === undefined)
    return (
      `node ${n.name}'s runtime setting is unknown: no agent has published it (the Node has no label ` +
      `${CHECKPOINT_RESTORE_LABEL}); run the stateful-migration agent there with CRI-O's ${WHAT_TO_SET}, ${instead}`
    );
  if (n.setting === UNKNOWN_SETTING)
    return (
      `node ${n.name}'s runtime setting is unknown: its agent found no CRI-O configuration it could read (its log ` +
      `says why); give CRI-O ${WHAT_TO_SET} on that node (in /etc/crio/crio.conf.d/), ${instead}`
    );
  return (
    `node ${n.name}'s label ${CHECKPOINT_RESTORE_LABEL} is ${JSON.stringify(n.setting)}, not a runtime setting; ` +
    `its agent replaces it within a minute if it runs: set CRI-O's ${WHAT_TO_SET} on that node, ${instead}`
  );
}

/** Pending while the target's Nodes cannot be read: whether one restores is not known yet. */
export const TARGET_NODES_UNKNOWN = 'TargetNodesUnknown';

/**
 * Why a restore stays Pending when the target's Nodes cannot be listed through Karmada's cluster proxy, naming the
 * rights to check when the answer was 403.
 */
export function nodesUnknownMessage(cluster: string, code: number | undefined, described: string): string {
  const rights =
    code === 403
      ? " (the hub's identity needs get on clusters/proxy, deploy/hub/restore-rbac.yaml, and list on nodes in " +
        'the member, karmada/restore-member-rbac.yaml)'
      : '';
  return (
    `cannot list the nodes of ${cluster} through Karmada's cluster proxy to see which allow restores: ` +
    `${described}${rights}; trying again`
  );
}

import {
  CHECKPOINT_RESTORE_LABEL,
  RESTORE_ALLOWED,
  UNKNOWN_SETTING,
  isCheckpointRestoreSetting,
} from '@stateful-migration/api';
import type { Refusal, RestorePlan } from './validate.js';

/** A Node of the target cluster as the restore check needs it. */
export interface NodeView {
  name: string;
  ready: boolean;
  /** spec.unschedulable: no new pod lands there. */
  cordoned: boolean;
  /** The label the node's agent publishes (migration.dcnlab.com/checkpoint-restore); undefined when none did. */
  setting?: string;
}

/** A Node as the member apiserver returns it. */
export interface KubeNode {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}

export function nodeView(n: KubeNode): NodeView {
  const setting = n.metadata.labels?.[CHECKPOINT_RESTORE_LABEL];
  return {
    name: n.metadata.name,
    ready: n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    cordoned: n.spec?.unschedulable === true,
    ...(setting !== undefined ? { setting } : {}),
  };
}

/** The one reason for "the target cannot run a restored pod": a node, or every usable node, refuses restores. */
export const TARGET_CANNOT_RESTORE = 'TargetCannotRestore';
export const TARGET_NODE_NOT_FOUND = 'TargetNodeNotFound';

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
  plan: Pick<RestorePlan, 'targetCluster' | 'targetNode'>,
  nodes: NodeView[],
): Refusal | undefined {
  const sorted = [...nodes].sort((a, b) => a.name.localeCompare(b.name));
  if (plan.targetNode) {
    const node = sorted.find((n) => n.name === plan.targetNode);
    if (!node)
      return refuse(
        TARGET_NODE_NOT_FOUND,
        `target node ${plan.targetNode} is not a node of cluster ${plan.targetCluster} (nodes: ${
          list(sorted.map((n) => n.name)) || 'none'
        }); fix spec.targetNode, or leave it out to let the scheduler pick a node that allows restores`,
      );
    return node.setting === RESTORE_ALLOWED ? undefined : refuse(TARGET_CANNOT_RESTORE, nodeRefusal(node));
  }
  if (sorted.some((n) => n.ready && !n.cordoned && n.setting === RESTORE_ALLOWED)) return undefined;
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

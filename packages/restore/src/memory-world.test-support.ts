import {
  CHECKPOINT_RESTORE_LABEL,
  HUB_WEBHOOK_POLICY,
  HUB_WEBHOOK_POLICY_PATH,
  type CheckpointBackup,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
} from '@stateful-migration/api';
import { rootLogger } from '@stateful-migration/kube';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { RestoreController, type RestoreOptions } from './controller.js';

// The hub as the restore controller sees it, in memory, for the tests of its shell (controller.test.ts) and of a
// workload migration's steps (workload/step.test.ts): the same clusters, node, credentials and placed workload, so
// that both read the controller against one world.

export const G = '/apis/migration.dcnlab.com/v1/namespaces/shop';
export const CLUSTERS = '/apis/cluster.karmada.io/v1alpha1/clusters';
export const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';
export const POLICIES = '/apis/policy.karmada.io/v1alpha1/namespaces/shop/propagationpolicies';
export const SECRETS = '/api/v1/namespaces/shop/secrets';
export const PODS = '/api/v1/namespaces/shop/pods';
export const ready = { conditions: [{ type: 'Ready', status: 'True' }] };
export const b64 = (s: string) => Buffer.from(s).toString('base64');
/** A path on the hub that Karmada's cluster proxy forwards to member `c`. */
export const inMember = (c: string, path: string) => `${CLUSTERS}/${c}/proxy${path}`;

export interface WorldOptions {
  /** The CheckpointRestore the controller reconciles, in namespace shop. */
  restore: CheckpointRestore;
  /** The backup it names, stored as it is under its own name (its status may be the hub's, partly filled). */
  backup: Omit<CheckpointBackup, 'status'> & { status?: unknown };
  /** The workload the backup is of, placed by Karmada in member1 only. */
  workload: { kind: 'Deployment' | 'StatefulSet'; name: string; replicas: number };
  /** Objects of the test's own, stored after the workload and before the restore. */
  more?: (api: MemoryApi) => void;
  /** Options of the controller beyond its client, log, identity and intervals. */
  controller?: Partial<RestoreOptions>;
}

/**
 * Two Ready members, each with the chart's hub webhook policy; member2's node m2-a can restore checkpoints; the registry credentials `creds`; the backup, the
 * workload and its binding to member1; the restore. `step()` runs one reconcile of the restore with the call log
 * cleared first, `status()` reads its status.
 */
export function memoryWorld(o: WorldOptions) {
  const api = new MemoryApi();
  api.put(`${G}/checkpointbackups/${o.backup.metadata.name}`, o.backup);
  api.put(`${SECRETS}/creds`, {
    metadata: { name: 'creds' },
    data: { username: b64('u'), password: b64('p') },
  });
  for (const c of ['member1', 'member2']) {
    api.put(`${CLUSTERS}/${c}`, { metadata: { name: c }, status: ready });
    // What the chart carries to every member: the policy that owns the hub's webhook configurations there.
    api.put(inMember(c, HUB_WEBHOOK_POLICY_PATH), {
      metadata: { name: HUB_WEBHOOK_POLICY, uid: `policy-${c}` },
    });
  }
  api.put(inMember('member2', '/api/v1/nodes/m2-a'), {
    metadata: { name: 'm2-a', labels: { [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_restore' } },
    status: ready,
  });
  const { kind, name, replicas } = o.workload;
  api.put(`/apis/apps/v1/namespaces/shop/${kind.toLowerCase()}s/${name}`, {
    metadata: { name },
    spec: { replicas },
  });
  const binding = `${name}-${kind.toLowerCase()}`;
  api.put(`${BINDINGS}/${binding}`, {
    metadata: { name: binding },
    spec: { clusters: [{ name: 'member1' }] },
  });
  o.more?.(api);
  const restorePath = `${G}/checkpointrestores/${o.restore.metadata.name}`;
  api.put(restorePath, o.restore);
  const ctl = new RestoreController({
    client: api.client(),
    log: rootLogger('test', 'silent'),
    identity: 'test',
    pollMs: 7,
    followMs: 11,
    ...o.controller,
  });
  const step = async () => {
    api.resetCalls();
    return ctl.reconcile(`shop/${o.restore.metadata.name}`);
  };
  const status = () => api.object<CheckpointRestore>(restorePath)?.status ?? ({} as CheckpointRestoreStatus);
  return { api, step, status, ctl };
}

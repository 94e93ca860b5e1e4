/**
 * Every permission the three components hold, and the code that needs each: the one table to change when code
 * needs another right, or stops needing one. `rbac.test.ts` checks the shipped manifests (deploy/rbac.yaml,
 * deploy/hub/*.yaml, karmada/*rbac*.yaml) and the Role the hub makes at run time against it, rule by rule, and fails
 * on anything extra or missing; `pnpm gen` writes it into docs/security.md ("Permissions held").
 *
 * How a request becomes a verb: GET of one object `get`, GET of a collection `list` (with ?watch `watch`), POST
 * `create`, PUT `update`, PATCH `patch`, DELETE `delete`; a PUT or PATCH of `/status` or `/scale` is checked on that
 * subresource (`checkpointbackups/status`, `deployments/scale`). Karmada's cluster proxy is checked twice: on the
 * Karmada apiserver as `clusters/proxy` with the verb of the HTTP method, then in the member, which it calls as the
 * hub's identity (impersonated), with the verb of the proxied request.
 *
 * Only what the project ships or makes is here: the Roles the hub makes at run time (`madeBy`) for a registry secret
 * and for the public keys object of `spec.encryption.publicKeysRef` (issue 14) included. Without a hub (a
 * CheckpointBackup applied in a member), the tenant makes the keys object's Role by hand
 * (examples/checkpointbackup/encrypted-checkpoint.yaml).
 */

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** Who holds a set of rules: a ServiceAccount, or a user name (the hub's identity as the cluster proxy presents it). */
export interface Subject {
  kind: 'ServiceAccount' | 'User';
  name: string;
  namespace?: string;
}

export const AGENT_SA: Subject = {
  kind: 'ServiceAccount',
  name: 'checkpoint-backup-sa',
  namespace: 'stateful-migration',
};
export const HUB_SA: Subject = {
  kind: 'ServiceAccount',
  name: 'stateful-migration-hub',
  namespace: 'karmada-system',
};
/** In the members, Karmada's cluster proxy impersonates the hub's ServiceAccount by its user name. */
export const HUB_IN_MEMBERS: Subject = {
  kind: 'User',
  name: 'system:serviceaccount:karmada-system:stateful-migration-hub',
};

/** A ClusterRole or Role and whom it is bound to. */
export interface RoleRef {
  /** The manifest that ships it; undefined for the Role the hub makes at run time (`madeBy`). */
  file?: string;
  madeBy?: string;
  kind: 'ClusterRole' | 'Role';
  name: string;
  namespace?: string;
  subject: Subject;
  /** The API server it lives on, for people. */
  where: string;
}

export type RoleId =
  | 'agent'
  | 'agentDefaultSecret'
  | 'agentTenantSecret'
  | 'agentPublicKeys'
  | 'hub'
  | 'hubLeader'
  | 'restore'
  | 'hubInMembers'
  | 'restoreInMembers';

export const ROLES: Readonly<Record<RoleId, RoleRef>> = {
  agent: {
    file: 'deploy/rbac.yaml',
    kind: 'ClusterRole',
    name: 'checkpoint-backup-agent',
    subject: AGENT_SA,
    where: 'every member cluster',
  },
  agentDefaultSecret: {
    file: 'deploy/rbac.yaml',
    kind: 'Role',
    name: 'checkpoint-backup-registry-credentials',
    namespace: 'stateful-migration',
    subject: AGENT_SA,
    where: 'every member cluster',
  },
  agentTenantSecret: {
    madeBy: 'packages/hub/src/secrets/reader.ts',
    kind: 'Role',
    name: 'checkpoint-backup-registry-secret-<secret>',
    namespace: '<tenant>',
    subject: AGENT_SA,
    where:
      'the members a registry secret is carried to (made on Karmada by the hub, carried with the secret)',
  },
  agentPublicKeys: {
    madeBy: 'packages/hub/src/secrets/reader.ts',
    kind: 'Role',
    name: 'checkpoint-backup-public-keys-<kind>-<name>',
    namespace: '<tenant>',
    subject: AGENT_SA,
    where:
      'the members a public keys object (spec.encryption.publicKeysRef) is carried to (made on Karmada by the hub, carried with the object)',
  },
  hub: {
    file: 'deploy/hub/rbac.yaml',
    kind: 'ClusterRole',
    name: 'stateful-migration-hub',
    subject: HUB_SA,
    where: 'the Karmada apiserver',
  },
  hubLeader: {
    file: 'deploy/hub/rbac.yaml',
    kind: 'Role',
    name: 'stateful-migration-hub-leader',
    namespace: 'karmada-system',
    subject: HUB_SA,
    where: 'the Karmada apiserver',
  },
  restore: {
    file: 'deploy/hub/restore-rbac.yaml',
    kind: 'ClusterRole',
    name: 'stateful-migration-hub-restore',
    subject: HUB_SA,
    where: 'the Karmada apiserver',
  },
  hubInMembers: {
    file: 'karmada/hub-member-rbac.yaml',
    kind: 'ClusterRole',
    name: 'stateful-migration-hub-pod-reader',
    subject: HUB_IN_MEMBERS,
    where: 'every member cluster (applied on Karmada, propagated)',
  },
  restoreInMembers: {
    file: 'karmada/restore-member-rbac.yaml',
    kind: 'ClusterRole',
    name: 'stateful-migration-hub-restore-source',
    subject: HUB_IN_MEMBERS,
    where: 'every member cluster (applied on Karmada, propagated)',
  },
};

/** One rule (or part of one) and why it exists. */
export interface Permission {
  role: RoleId;
  apiGroup: string;
  resources: string[];
  verbs: Verb[];
  resourceNames?: string[];
  /** Why, in a sentence (markdown). */
  neededBy: string;
  /** The code that needs it: a file, and names that file defines or calls (checked to be there). */
  code: Record<string, string[]>;
}

const AGENT = 'packages/agent/src/controller.ts';
const RECORDER = 'packages/agent/src/recorder.ts';
const CHECKPOINT = 'packages/agent/src/checkpoint-step.ts';
const IMAGES = 'packages/agent/src/image-steps.ts';
const FINISH = 'packages/agent/src/finish-step.ts';
const SWEEP = 'packages/agent/src/retention-sweep.ts';
const PUBLISHER = 'packages/agent/src/runtime-publisher.ts';
const WORKLOADS = 'packages/agent/src/workload/controller.ts';
const BACKUPS = 'packages/hub/src/backups/controller.ts';
const SECRETS = 'packages/hub/src/secrets/controller.ts';
const READER = 'packages/hub/src/secrets/reader.ts';
const CACHES = 'packages/hub/src/caches.ts';
const POLICY_WRITER = 'packages/hub/src/policy-writer.ts';
const RESTORE = 'packages/restore/src/controller.ts';
const SUBMIT = 'packages/restore/src/submit.ts';
const FOLLOW = 'packages/restore/src/follow.ts';
const FRESH = 'packages/restore/src/checkpoint.ts';
const RESTORE_RECORDER = 'packages/restore/src/recorder.ts';
const PINS = 'packages/restore/src/pins.ts';
const SCALE = 'packages/restore/src/scale.ts';
const WORKLOAD_STEP = 'packages/restore/src/workload/step.ts';
const POD_MUTATIONS = 'packages/restore/src/admission/pods.ts';
const FAILOVER = 'packages/hub/src/failover/controller.ts';
const FAILOVER_RECORD = 'packages/hub/src/failover/record.ts';
const FAILOVER_PODS = 'packages/hub/src/failover/pods.ts';
const FAILOVER_PARTS = 'packages/hub/src/failover/parts.ts';
const DRAIN_GATE = 'packages/hub/src/drain/gate.ts';
const DRAIN_PODS = 'packages/hub/src/drain/replacement.ts';
const DRAIN_HOOKS = 'packages/hub/src/drain/webhooks.ts';
const STATUS = 'packages/kube/src/status.ts';
const FINALIZERS = 'packages/kube/src/finalizers.ts';
const EVENTS = 'packages/kube/src/events.ts';
const INFORMER = 'packages/kube/src/informer.ts';

export const PERMISSIONS: Permission[] = [
  // ---- the agent, in every member ----
  {
    role: 'agent',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['get'],
    neededBy:
      "the pod of an object when the agent's cache of its node's pods lacks it and its absence matters (the node's own run, or the agent that answers for pods on no node); the record of it for restores, at checkpoint time; retention asks whether the pod of an archive not on this node still exists",
    code: { [AGENT]: ['#pod'], [CHECKPOINT]: ['#checkpointedPod'], [SWEEP]: ['#livePods'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['list', 'watch'],
    neededBy:
      'the informer of the pods of its node (field selector `spec.nodeName=<node>`): a pod appearing or deleted wakes its objects and the retention sweep',
    code: { [AGENT]: ['restListWatch', 'spec.nodeName'], [INFORMER]: ['Informer'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['delete'],
    neededBy:
      '`stopPod: true`: the checkpointed pod only, with its uid as a precondition (never a replacement of the same name)',
    code: { [FINISH]: ['FinishStep', 'run'], 'packages/agent/src/stop-pod.ts': ['deleteCheckpointedPod'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['nodes/checkpoint'],
    verbs: ['create'],
    neededBy:
      "the kubelet's checkpoint API (POST `/checkpoint/...` on the node); the kubelet asks the apiserver with a SubjectAccessReview. Narrower than `nodes/proxy`",
    code: { 'packages/agent/src/kubelet.ts': ['KubeletClient', 'checkpoint'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['nodes'],
    verbs: ['get'],
    neededBy:
      'its own Node, to compare the label `migration.dcnlab.com/checkpoint-restore` with the runtime setting, until the Node informer has synced',
    code: { [PUBLISHER]: ['RuntimePublisher', '#round'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['nodes'],
    verbs: ['list', 'watch'],
    neededBy:
      "the agent's Node informer (a list at start and after a failed watch, then one watch): which Nodes are Ready (the first by name answers for pods on no node), which exist (the finalizers of removed nodes' agents are released, after a fresh list), and its own Node's labels for the publisher",
    code: { [AGENT]: ['#reportsOrphans', '#finalizersOfGoneNodes', 'nodes'], [INFORMER]: ['Informer'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['nodes'],
    verbs: ['patch'],
    neededBy:
      'that label on its own Node, a merge patch of `metadata.labels`, only when it differs. RBAC cannot say "its own Node": this is patch on every Node, and on all of it (taints, cordon too). To narrow it, a ValidatingAdmissionPolicy can let this ServiceAccount change only that label, only on the Node named in its token (`request.userInfo.extra[\'authentication.kubernetes.io/node-name\']`, pod-bound tokens since Kubernetes 1.30)',
    code: { [PUBLISHER]: ['#round', 'labelPatch'] },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['get'],
    neededBy:
      'a status write whose copy at hand was stale (409) reads the object again; reconciles read the informer cache (and the object as the agent last wrote it)',
    code: { [AGENT]: ['reconcile'], [RECORDER]: ['write'], [STATUS]: ['writeStatus'] },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['list', 'watch'],
    neededBy: 'the informer; the retention sweep reads every object from it for its policies and pins',
    code: { [AGENT]: ['backupsPath', 'restListWatch'], [SWEEP]: ['sweep'] },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['patch'],
    neededBy:
      "its per-node finalizer `agent.migration.dcnlab.com/<node>`, added and released (its own, removed nodes') by a merge patch carrying the resourceVersion read; a workload-level object's children kept in step with its spec and pins (`childDrift`), likewise; the object is never PUT, so no `update`",
    code: {
      [AGENT]: ['#perform', '#cleanUp'],
      [FINALIZERS]: ['addFinalizer', 'releaseFinalizers'],
      [WORKLOADS]: ['#coordinate', 'childDrift'],
    },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['create'],
    neededBy:
      "a workload-level object (no `podRef`): each node's agent creates the child CheckpointBackup of each of the workload's pods on its node, in the object's own namespace, with its spec and an ownerReference to it",
    code: { [WORKLOADS]: ['#createForNodePods', 'desiredChild'] },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['delete'],
    neededBy:
      "a workload-level object: the children of gone pods beyond the newest records kept (`staleChildren`); the children's spec follows the parent's by the `patch` above",
    code: { [WORKLOADS]: ['#coordinate', 'staleChildren', 'deleteIfExists'] },
  },
  {
    role: 'agent',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups/status'],
    verbs: ['update'],
    neededBy:
      'every status write: a PUT of `/status` with the resourceVersion read (a 409 reads again); never a GET or PATCH of `/status`',
    code: { [RECORDER]: ['write'], [STATUS]: ['writeStatus'] },
  },
  {
    role: 'agent',
    apiGroup: '',
    resources: ['events'],
    verbs: ['create', 'patch'],
    neededBy:
      "Events of its objects, de-duplicated as client-go's recorder does: create, then a merge patch of `count` and `lastTimestamp` when the same cause is seen again",
    code: { [EVENTS]: ['EventRecorder', '#record', '#bump'] },
  },
  {
    role: 'agentDefaultSecret',
    apiGroup: '',
    resources: ['secrets'],
    verbs: ['get'],
    resourceNames: ['registry-credentials'],
    neededBy:
      "the platform's default registry secret, for a registry host in `--default-secret-registries` only",
    code: { [IMAGES]: ['registryClient'] },
  },
  {
    role: 'agentTenantSecret',
    apiGroup: '',
    resources: ['secrets'],
    verbs: ['get'],
    resourceNames: ['<secret>'],
    neededBy:
      "the one registry secret a CheckpointBackup of that namespace names in `spec.registry.secretRef` (the hub's `secretReaderRole`, carried with the secret; without a hub, made by hand)",
    code: { [IMAGES]: ['registryClient'], [READER]: ['secretReaderRole'] },
  },
  {
    role: 'agentPublicKeys',
    apiGroup: '',
    resources: ['configmaps', 'secrets'],
    verbs: ['get'],
    resourceNames: ['<name>'],
    neededBy:
      "the one public keys object (a ConfigMap or a Secret: the Role names only its own kind) a CheckpointBackup of that namespace names in `spec.encryption.publicKeysRef`, read before the checkpoint and at the push (the hub's `secretReaderRole`, carried with the object)",
    code: { [IMAGES]: ['recipients'], [READER]: ['secretReaderRole', 'resourceOf'] },
  },

  // ---- the hub, on the Karmada apiserver ----
  {
    role: 'hub',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['get'],
    neededBy:
      "a status write re-reads its object after a 409; the restore controller reads a restore's backup and edits its pins; the eviction gate reads a pod's drain checkpoint (`drain-<pod>-<uid8>`) to answer from its status",
    code: {
      [BACKUPS]: ['#writeStatus'],
      [STATUS]: ['writeStatus'],
      [SUBMIT]: ['plan', '#read'],
      [FRESH]: ['run', '#create'],
      [RESTORE]: ['#migrate', '#cleanUp', '#keepCheckpoint'],
      [PINS]: ['editPins'],
      [DRAIN_GATE]: ['handle'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['list', 'watch'],
    neededBy:
      "the informer; a fresh list of a namespace (of every namespace, for the platform's default secret) before a registry secret is withdrawn or a shared policy deleted; the replacement webhook lists a namespace's drain checkpoints of its cluster (label `migration.dcnlab.com/drain-cluster`) fresh, not from the cache, before it claims one",
    code: {
      [CACHES]: ['HubCaches', 'BACKUPS_PATH'],
      [SECRETS]: ['#withdraw'],
      [BACKUPS]: ['#collect'],
      [DRAIN_PODS]: ['handle'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['patch'],
    neededBy:
      "the hub's finalizer, added and released by a merge patch with the resourceVersion read, and likewise the label `hub.migration.dcnlab.com/policy` that puts an object in its shared policy (with the release of Karmada's claim by a policy of the hub's it leaves); the restore controller's pins (the annotation `migration.dcnlab.com/restore-pinned-images`, likewise); a migration that failed after stopping its source drops its ownerReference from its one-off CheckpointBackup (likewise), which then outlives it; the replacement webhook claims a drain checkpoint (the annotation `migration.dcnlab.com/claimed-by`, likewise: a 409 means another pod took it), and the eviction gate marks one a pod left without as claimed (no replacement restores from it)",
    code: {
      [BACKUPS]: ['#reconcile', '#join', '#cleanUp'],
      [FINALIZERS]: ['addFinalizer', 'releaseFinalizers'],
      [PINS]: ['editPins'],
      [SUBMIT]: ['submit'],
      [RESTORE]: ['#cleanUp', '#keepCheckpoint'],
      [DRAIN_PODS]: ['handle'],
      [DRAIN_GATE]: ['#spend'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups/status'],
    verbs: ['update'],
    neededBy:
      "placement, the aggregate and refusals; a failover's record `status.lastFailover`: a PUT of `/status` with the resourceVersion read",
    code: {
      [BACKUPS]: ['#writeStatus'],
      [STATUS]: ['writeStatus'],
      [FAILOVER_RECORD]: ['writeStatus'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'policy.karmada.io',
    resources: ['propagationpolicies'],
    verbs: ['get', 'list', 'watch'],
    neededBy:
      "the informer (whether a user's policy selects an object); a GET of the hub's own policy when the cache does not have it yet (to write it, or to know whether a Secret's other use still carries it)",
    code: { [CACHES]: ['POLICIES_PATH'], [POLICY_WRITER]: ['ensure'], [SECRETS]: ['#stopCarrying'] },
  },
  {
    role: 'hub',
    apiGroup: 'policy.karmada.io',
    resources: ['propagationpolicies'],
    verbs: ['create', 'update', 'delete'],
    neededBy:
      "one policy per namespace and set of clusters, shared by the CheckpointBackups placed there, and one per registry secret, created, PUT with the fields the hub owns, deleted; only policies labelled as the hub's",
    code: { [POLICY_WRITER]: ['ensure', '#create', 'delete'] },
  },
  {
    role: 'hub',
    apiGroup: 'policy.karmada.io',
    resources: ['clusterpropagationpolicies'],
    verbs: ['list', 'watch'],
    neededBy: "the informer: a user's ClusterPropagationPolicy that selects an object wins",
    code: { [CACHES]: ['CLUSTER_POLICIES_PATH'] },
  },
  {
    role: 'hub',
    apiGroup: 'work.karmada.io',
    resources: ['resourcebindings'],
    verbs: ['list', 'watch'],
    neededBy: "the informer: where workloads run, and the members' status of each object",
    code: { [CACHES]: ['BINDINGS_PATH'] },
  },
  {
    role: 'hub',
    apiGroup: 'work.karmada.io',
    resources: ['works'],
    verbs: ['list', 'watch'],
    neededBy:
      "the informer: a member's report of a CheckpointBackup, read from its Work one write before the binding shows it. Wider than it looks: Works carry every propagated manifest as applied (Secrets' data, other kinds); the hub drops the manifest as each is read and reads only CheckpointBackup Works (ADR 0023). Leave it out and the hub reads the bindings alone, one write later",
    code: { [CACHES]: ['WORKS_PATH'] },
  },
  {
    role: 'hub',
    apiGroup: 'work.karmada.io',
    resources: ['resourcebindings'],
    verbs: ['get', 'delete'],
    neededBy:
      'withdrawing an object or a secret: Karmada keeps what a deleted policy propagated, so the hub deletes the binding its own policy claims (read first when the cache does not have it)',
    code: { [POLICY_WRITER]: ['withdraw'] },
  },
  {
    role: 'hub',
    apiGroup: 'cluster.karmada.io',
    resources: ['clusters'],
    verbs: ['list', 'watch'],
    neededBy:
      'the informer (labels, readiness); the restore controller lists them to validate a target. No code reads one Cluster by name, so no `get`',
    code: { [CACHES]: ['CLUSTERS_PATH'], [SUBMIT]: ['plan', 'CLUSTERS_PATH'] },
  },
  {
    role: 'hub',
    apiGroup: 'cluster.karmada.io',
    resources: ['clusters/proxy'],
    verbs: ['get'],
    neededBy:
      'which member runs a pod when a workload runs in several (GET of the pod through the cluster proxy; the member checks `stateful-migration-hub-pod-reader`); the eviction gate reads the evicted pod; the keep-state webhook configurations are read before they are written',
    code: {
      [BACKUPS]: ['#clustersRunning', 'proxyPath'],
      [DRAIN_GATE]: ['handle'],
      [DRAIN_HOOKS]: ['reconcile'],
    },
  },
  {
    role: 'hub',
    apiGroup: '',
    resources: ['events'],
    verbs: ['create', 'patch'],
    neededBy:
      "the hub's and the restore controller's Events, de-duplicated: create, then a merge patch of `count` when a cause repeats; the eviction gate's and the replacement webhook's Events on the covering backup",
    code: {
      [EVENTS]: ['EventRecorder', '#record', '#bump'],
      [FAILOVER_PARTS]: ['EventRecorder'],
      [BACKUPS]: ['#event'],
      [RESTORE_RECORDER]: ['event'],
      [DRAIN_GATE]: ['handle'],
      [DRAIN_PODS]: ['handle'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'rbac.authorization.k8s.io',
    resources: ['roles'],
    verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
    neededBy:
      "the per-secret reader Role `checkpoint-backup-registry-secret-<secret>` (get that one secret): the hub's own cached (list, watch, by its managed-by label, so a reconcile reads none; the label selector is the hub's choice, not a limit: the grant lets it list every Role of the Karmada apiserver, karmada-system's too, which hold rules, never secrets; it could already get any by name), any other name read (one that is not the hub's refuses the backups using the secret), created, its rules PUT when an older hub wrote others, deleted with the secret's withdrawal",
    code: {
      [SECRETS]: ['#readerTaken', '#ensureReader', '#create', '#deleteOwn', '#stopCarrying'],
      [READER]: ['readerTaken'],
      [CACHES]: ['readerRoles'],
    },
  },
  {
    role: 'hub',
    apiGroup: 'rbac.authorization.k8s.io',
    resources: ['rolebindings'],
    verbs: ['get', 'list', 'watch', 'create', 'delete'],
    neededBy:
      "its RoleBinding to the agents: cached and read (likewise), created; deleted with the withdrawal, and to replace an older hub's binding to a ClusterRole (roleRef is immutable, so never `update`)",
    code: {
      [SECRETS]: ['#readerTaken', '#ensureReader', '#create', '#deleteOwn'],
      [CACHES]: ['readerBindings'],
    },
  },
  {
    role: 'hub',
    apiGroup: '',
    resources: ['secrets'],
    verbs: ['get'],
    neededBy:
      "RBAC's escalation check: a caller may create a Role, or bind one, only with rights it holds itself, and the reader Role grants `get` on a secret whose name and namespace are known only at run time. The hub never reads a secret (the restore controller uses its own grant of the same right); `escalate` and `bind` would let it grant anything",
    code: { [SECRETS]: ['#ensureReader'], [READER]: ['secretReaderRole'] },
  },
  {
    role: 'hub',
    apiGroup: '',
    resources: ['configmaps'],
    verbs: ['get'],
    neededBy:
      "RBAC's escalation check again, for the reader Role of a public keys ConfigMap (spec.encryption.publicKeysRef, issue 14); the hub's controllers never read one (the restore controller uses its own grant of the same right)",
    code: { [SECRETS]: ['#ensureReader'], [READER]: ['secretReaderRole', 'resourceOf'] },
  },
  {
    role: 'hubLeader',
    apiGroup: 'coordination.k8s.io',
    resources: ['leases'],
    verbs: ['get', 'create', 'update'],
    neededBy:
      'leader election on the Lease `stateful-migration-hub`: read, created when missing, PUT to acquire, renew and release',
    code: { 'packages/kube/src/leader.ts': ['LeaderElector', '#tryAcquireOrRenew', 'stop'] },
  },

  // ---- the restore controller (in the hub process), on the Karmada apiserver ----
  {
    role: 'restore',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointrestores'],
    verbs: ['get', 'list', 'watch'],
    neededBy:
      "the informer; each reconcile reads its object fresh, and every status write reads it before its PUT; the admission webhook's own informer, on every hub replica, from which it answers; a workload migration lists the namespace's restores before it starts (one migration of a workload at a time)",
    code: {
      [RESTORE]: ['RESTORE_PLURAL', 'restListWatch', 'reconcile'],
      [WORKLOAD_STEP]: ['start', 'restoresPath'],
      'packages/hub/src/main.ts': ['startWebhook', 'restListWatch'],
      [RESTORE_RECORDER]: ['write'],
      [STATUS]: ['writeStatus'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointrestores'],
    verbs: ['patch'],
    neededBy:
      'its finalizer `restore.migration.dcnlab.com/unpin`, added and released by a merge patch with the resourceVersion read',
    code: {
      [SUBMIT]: ['start'],
      [RESTORE]: ['#cleanUp'],
      [FINALIZERS]: ['addFinalizer', 'releaseFinalizers'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointrestores/status'],
    verbs: ['update'],
    neededBy: 'every status write: a PUT of `/status` with the resourceVersion read',
    code: { [RESTORE_RECORDER]: ['write'], [STATUS]: ['writeStatus'] },
  },
  {
    role: 'restore',
    apiGroup: 'migration.dcnlab.com',
    resources: ['checkpointbackups'],
    verbs: ['create'],
    neededBy:
      "Migrate's fresh checkpoint: a one-off CheckpointBackup (immediately, stopPod, in the source cluster only) in the restore's namespace, owned by the restore; the hub places it and the source's agent checkpoints and stops the pod; the eviction gate's drain checkpoint: a one-off CheckpointBackup (immediately, the evicted pod, in its cluster only), owned by the covering backup",
    code: { [FRESH]: ['#create'], [DRAIN_GATE]: ['#start'] },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['get', 'create'],
    neededBy:
      'the restored pod, a template on Karmada: created, or read on a name clash; read while following it; a bare source pod that is a template on Karmada is looked up before a Migrate, and read for its uid before it is deleted',
    code: { [SUBMIT]: ['#createPod'], [FOLLOW]: ['run'], [RESTORE]: ['#locate', '#deleteSourcePod'] },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['list', 'watch'],
    neededBy:
      "the informer of the restored pods on Karmada (label `migration.dcnlab.com/restore`, which Karmada keeps up to date with the target cluster's pod status): each change wakes its restore, instead of polling",
    code: { [RESTORE]: ['restoredPods', 'RESTORE_LABEL'] },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['patch'],
    neededBy: "Migrate hands the source's labels over to the restored pod (a merge patch of its labels)",
    code: { [RESTORE]: ['#handOver'] },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['delete'],
    neededBy:
      'Migrate of a bare pod that is a template on Karmada deletes it there, with its uid as a precondition',
    code: { [RESTORE]: ['#stopSource', '#deleteSourcePod'] },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['secrets'],
    verbs: ['get', 'create', 'patch'],
    neededBy:
      "the backup's own registry secret, read to make the pull secret `<restore>-registry-pull` (or failover's `<backup>-failover-pull`, owned by the backup), which is created or merge-patched, then read and patched to add the restored pod as its owner; a Secret that is the public keys object of an encrypted backup (below) is read too; the eviction gate reads the covering backup's registry secret likewise to make the drain checkpoint's pull secret `drain-<pod>-<uid8>-pull`",
    code: {
      [SUBMIT]: ['#registryCredentials', '#createOrUpdate', 'adopt', '#readKeys'],
      [FAILOVER]: ['#ensurePullSecret'],
      [DRAIN_GATE]: ['#start'],
    },
  },
  {
    role: 'restore',
    apiGroup: '',
    resources: ['configmaps'],
    verbs: ['get'],
    neededBy:
      "Migrate of an encrypted backup: the one public keys object its `spec.encryption.publicKeysRef` names (a ConfigMap, or a Secret by the row above), in the restore's own namespace only, read before the checkpoint so that a target whose nodes hold no key for the recipients it holds now is refused before the source is stopped; its contents are never logged",
    code: {
      [SUBMIT]: ['#startMigrate', '#readKeys'],
      'packages/restore/src/fresh-checkpoint.ts': ['keysObjectPath', 'expectedRecipients'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'policy.karmada.io',
    resources: ['propagationpolicies'],
    verbs: ['get', 'create', 'patch'],
    neededBy:
      "the restore's policy `checkpointrestore-<restore>` (its pod and pull secret, to the target only): created or merge-patched, then read and patched to add the pod as its owner; a Migrate's `migration-checkpoint-<restore>` (its one-off CheckpointBackup, to the source cluster only, above any user's policy), created before that backup and read when it exists; failover's `<backup>-failover-pull` (its pull secret, to every cluster), read, created, merge-patched when the clusters change; the eviction gate's `migration-drain-<pod>-<uid8>` (the drain checkpoint and its pull secret, to the pod's cluster only), created before the checkpoint",
    code: {
      [SUBMIT]: ['submit', '#createOrUpdate', 'adopt'],
      [FRESH]: ['#ensurePolicy', 'freshBackupPolicy'],
      [FAILOVER]: ['#ensurePullSecret'],
      [DRAIN_GATE]: ['#start'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'work.karmada.io',
    resources: ['resourcebindings'],
    verbs: ['get'],
    neededBy:
      "the backup's binding (member status, before the hub copied it; read again to hand labels over), the pull secret's (applied in the target?), the restored pod's (its status in the target), a source workload's (the clusters it runs in)",
    code: {
      [SUBMIT]: ['plan', 'submit'],
      [FOLLOW]: ['observe'],
      [RESTORE]: ['#locate', '#handOver'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'cluster.karmada.io',
    resources: ['clusters/proxy'],
    verbs: ['get'],
    neededBy:
      "GETs in a member: the target's Nodes before a restore, the restored pod's node, a source that lives only in the member (its pod or its workload's Scale), the uid of a bare source pod before Migrate deletes its template on Karmada",
    code: {
      [SUBMIT]: ['#checkTarget'],
      [FOLLOW]: ['#nodeOf'],
      [RESTORE]: ['#locate', '#deleteSourcePod'],
      [WORKLOAD_STEP]: ['#pods', '#ensureWebhooks'],
      [POD_MUTATIONS]: ['#used'],
      [FAILOVER]: ['#ensureWebhook'],
      [FAILOVER_RECORD]: ['#targetNodes'],
      [FAILOVER_PODS]: ['#used'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'cluster.karmada.io',
    resources: ['clusters/proxy'],
    verbs: ['patch', 'delete'],
    neededBy:
      'Migrate of a source that lives only in a member: PATCH of its Scale (to 0, and back on a rollback), DELETE of a bare pod (the checkpointed uid as a precondition); a workload migration removes its scheduling gate from pods (PATCH) and deletes its webhook configurations and the pods it held in a cluster it rolls back into (DELETE); failover deletes the webhook configuration of a backup that no longer keeps state (DELETE); the keep-state configurations are deleted from a member where no backup keeps state on eviction',
    code: {
      [RESTORE]: ['#scale', '#deleteSourcePod'],
      [SCALE]: ['scaleRequest'],
      [WORKLOAD_STEP]: ['#ungate', '#release', '#deletePod'],
      [FAILOVER]: ['#removeWebhooks'],
      [DRAIN_HOOKS]: ['reconcile'],
    },
  },
  {
    role: 'restore',
    apiGroup: 'apps',
    resources: ['deployments/scale', 'statefulsets/scale'],
    verbs: ['get', 'patch'],
    neededBy:
      "Migrate of a Deployment or StatefulSet template on Karmada: its replicas read from the Scale, then the Scale merge-patched to 0 (and back to the recorded replicas on a rollback). The scale subresource only: no right to change a workload's pod template. A workload migration reads the replicas it will wait for",
    code: {
      [RESTORE]: ['#locate', '#scale'],
      [SCALE]: ['scaleReads', 'scaleRequest'],
      [WORKLOAD_STEP]: ['start', 'scaleReads'],
    },
  },

  {
    role: 'restore',
    apiGroup: 'policy.karmada.io',
    resources: ['propagationpolicies'],
    verbs: ['list'],
    neededBy:
      "a workload migration reads the namespace's policies to set its own one priority above those that select the workload (which it never changes)",
    code: { [WORKLOAD_STEP]: ['place', 'migrationPolicy'] },
  },
  {
    role: 'restore',
    apiGroup: 'policy.karmada.io',
    resources: ['propagationpolicies'],
    verbs: ['delete'],
    neededBy:
      "a workload migration's rollback (spec.rollback) deletes its own policy `checkpointrestore-<restore>` (only when it carries this restore's owner label), so the user's policy places the workload again",
    code: { [WORKLOAD_STEP]: ['#deletePolicy'] },
  },
  {
    role: 'restore',
    apiGroup: 'cluster.karmada.io',
    resources: ['clusters/proxy'],
    verbs: ['create', 'update'],
    neededBy:
      "a workload migration's MutatingWebhookConfiguration in the source and target members, and failover's standing one in every Ready member, created through the cluster proxy (a POST), or replaced (a PUT) when one of its name says something else; likewise the standing keep-state configurations `stateful-migration.keep-state` (validating and mutating)",
    code: {
      [WORKLOAD_STEP]: ['#ensureWebhooks'],
      [FAILOVER]: ['#ensureWebhook'],
      [DRAIN_HOOKS]: ['reconcile'],
    },
  },

  // ---- the hub's identity in the members, through Karmada's cluster proxy ----
  {
    role: 'hubInMembers',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['get'],
    neededBy:
      'which member runs the pod of a CheckpointBackup; the eviction gate reads the evicted pod (its phase, node, uid and controller)',
    code: { [BACKUPS]: ['#clustersRunning'], [DRAIN_GATE]: ['handle'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['get'],
    neededBy:
      "the restored pod's node; a bare source pod that lives only in the member; the uid of a bare source pod before Migrate deletes it",
    code: { [FOLLOW]: ['#nodeOf'], [RESTORE]: ['#locate', '#deleteSourcePod'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['delete'],
    neededBy:
      'Migrate of a bare pod that lives only in the member, with the checkpointed uid as a precondition; a workload rollback deletes the pods it held in the cluster it rolls back into (by uid), so their controller makes them again through the webhook, with their checkpoints',
    code: { [RESTORE]: ['#stopSource', '#deleteSourcePod'], [WORKLOAD_STEP]: ['#deletePod'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: 'apps',
    resources: ['deployments/scale', 'statefulsets/scale'],
    verbs: ['get', 'patch'],
    neededBy:
      'Migrate of a Deployment or StatefulSet that lives only in the member: read its replicas, scale it to 0 (and back on a rollback), through the scale subresource only',
    code: { [RESTORE]: ['#locate', '#scale'], [SCALE]: ['scaleReads', 'scaleRequest'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: '',
    resources: ['nodes'],
    verbs: ['list'],
    neededBy:
      "the target's Nodes before a restore (each node's `migration.dcnlab.com/checkpoint-restore` label and readiness); no Node is read by name, so no `get`",
    code: {
      [SUBMIT]: ['#checkTarget'],
      'packages/restore/src/target-nodes.ts': ['checkTargetNodes'],
      [FAILOVER_RECORD]: ['#targetNodes'],
    },
  },
  {
    role: 'restoreInMembers',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['list'],
    neededBy:
      "a workload migration lists the namespace's pods in source and target (whether the source still runs a pod of the workload, each replica's pod, the gated ones); the webhook lists the target's to give each Deployment pod a checkpoint no other pod runs",
    code: { [WORKLOAD_STEP]: ['#pods'], [POD_MUTATIONS]: ['#used'], [FAILOVER_PODS]: ['#used'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: '',
    resources: ['pods'],
    verbs: ['patch'],
    neededBy:
      'a workload migration removes its scheduling gate `migration.dcnlab.com/source-stopped` from the pods of the workload once the source runs none (a JSON patch tested against the gates read)',
    code: { [WORKLOAD_STEP]: ['#ungate'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: 'admissionregistration.k8s.io',
    resources: ['mutatingwebhookconfigurations'],
    verbs: ['get', 'list', 'create', 'update', 'delete'],
    neededBy:
      "a workload migration's webhook configuration `stateful-migration.<namespace>.<restore>` (pods of that namespace with a StatefulSet or ReplicaSet controller, CREATE only), made while the migration runs (replaced when one of that name says something else: another workload, an old URL or CA) and deleted when it ends; the hub lists its own (label `app.kubernetes.io/managed-by=stateful-migration-hub`) to delete those whose CheckpointRestore is gone or ended (left by a finalizer removed by hand, an uninstall, a member unreachable at the end); failover's `stateful-migration-failover.<namespace>.<backup>` (likewise scoped, failurePolicy Ignore), kept in every Ready member while a workload-level backup has `spec.keepState.clusterFailover`, deleted when it no longer has; the standing `stateful-migration.keep-state` (pods of the workloads whose backup keeps state on eviction, CREATE only, failurePolicy Ignore), kept where such a backup is placed and deleted where none is. RBAC cannot limit `create` by name, so the ValidatingAdmissionPolicy `hub-webhook-configurations.migration.dcnlab.com`, carried to every member, lets this identity create, update and delete only configurations named `stateful-migration.*` or `stateful-migration-*`, each webhook calling one of the hub's own routes (`hub.webhook.url`), and each owned by that policy alone, so that the chart's uninstall removes them (docs/adr/0014)",
    code: {
      [WORKLOAD_STEP]: ['#ensureWebhooks', '#release'],
      'packages/restore/src/workload/sweeper.ts': ['scan', 'sweep'],
      [FAILOVER]: ['#ensureWebhook', '#removeWebhooks'],
      [DRAIN_HOOKS]: ['reconcile'],
    },
  },
  {
    role: 'restoreInMembers',
    apiGroup: 'admissionregistration.k8s.io',
    resources: ['validatingadmissionpolicies'],
    verbs: ['get'],
    resourceNames: ['hub-webhook-configurations.migration.dcnlab.com'],
    neededBy:
      "the ValidatingAdmissionPolicy `hub-webhook-configurations.migration.dcnlab.com` the chart carries to every member, read for its uid: every webhook configuration the hub makes there names it as owner (the policy requires it), so that the chart's uninstall, which removes the policy, has the member's garbage collector remove them too; by name, so no other policy of a member is read",
    code: {
      [WORKLOAD_STEP]: ['readHubWebhookOwner'],
      [FAILOVER]: ['readHubWebhookOwner'],
      [DRAIN_HOOKS]: ['readHubWebhookOwner'],
    },
  },
  {
    role: 'restoreInMembers',
    apiGroup: 'admissionregistration.k8s.io',
    resources: ['validatingwebhookconfigurations'],
    verbs: ['create'],
    neededBy:
      "the eviction gate's standing `stateful-migration.keep-state` (pods/eviction of the pods of the workloads whose backup keeps state on eviction, CREATE only, failurePolicy Ignore, sideEffects NoneOnDryRun), created where such a backup is placed. RBAC cannot limit `create` by name: the ValidatingAdmissionPolicy `hub-webhook-configurations.migration.dcnlab.com` (above) lets this identity create only configurations named `stateful-migration.*` calling the hub's own routes, owned by that policy alone",
    code: { [DRAIN_HOOKS]: ['reconcile'] },
  },
  {
    role: 'restoreInMembers',
    apiGroup: 'admissionregistration.k8s.io',
    resources: ['validatingwebhookconfigurations'],
    verbs: ['get', 'update', 'delete'],
    resourceNames: ['stateful-migration.keep-state'],
    neededBy:
      "the eviction gate's standing `stateful-migration.keep-state`, read and replaced when it says something else than the backups, deleted where no backup keeps state on eviction; by name, so no other validating webhook of a member is read, changed or deleted",
    code: { [DRAIN_HOOKS]: ['reconcile'] },
  },
];

/** One rule in its smallest form, as manifests and the table are compared. */
export interface Grant {
  role: string;
  apiGroup: string;
  resource: string;
  verb: string;
  resourceNames: string;
}

export const roleKey = (r: { kind: string; name: string; namespace?: string | undefined }): string =>
  `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

/** Every (role, group, resource, verb, names) the table grants. */
export function tableGrants(perms: Permission[] = PERMISSIONS): Grant[] {
  return perms.flatMap((p) =>
    p.resources.flatMap((resource) =>
      p.verbs.map((verb) => ({
        role: roleKey(ROLES[p.role]),
        apiGroup: p.apiGroup,
        resource,
        verb,
        resourceNames: (p.resourceNames ?? []).join(','),
      })),
    ),
  );
}

const GITHUB_ROOT = '..';
const link = (file: string): string => `[${file}](${GITHUB_ROOT}/${file})`;
/** packages/hub/src/caches.ts as [hub/caches.ts](../packages/hub/src/caches.ts). */
const codeLink = (file: string): string =>
  `[${file.replace(/^packages\/([^/]+)\/src\//, '$1/')}](${GITHUB_ROOT}/${file})`;
const subjectText = (s: Subject): string =>
  s.kind === 'ServiceAccount' ? `ServiceAccount \`${s.namespace}/${s.name}\`` : `user \`${s.name}\``;

/** The markdown docs/security.md carries between its markers, generated from the table. */
export function permissionsMarkdown(): string {
  const out: string[] = [];
  for (const [id, role] of Object.entries(ROLES) as [RoleId, RoleRef][]) {
    const rows = PERMISSIONS.filter((p) => p.role === id);
    const scope = role.kind === 'Role' ? `, namespace \`${role.namespace}\`` : ', cluster-wide';
    const from = role.file ? link(role.file) : `made at run time by ${link(role.madeBy!)}`;
    out.push(
      `### ${role.kind} \`${role.name}\``,
      '',
      `${from}; ${role.where}${scope}; bound to ${subjectText(role.subject)}.`,
      '',
      '| API group | resource | verbs | needed by |',
      '|---|---|---|---|',
      ...rows.map((p) => {
        const names = p.resourceNames ? ` (only ${p.resourceNames.map((n) => `\`${n}\``).join(', ')})` : '';
        const code = Object.entries(p.code)
          .map(([file, names]) => `${codeLink(file)} ${names.map((n) => `\`${n}\``).join(', ')}`)
          .join('; ');
        return `| ${p.apiGroup ? `\`${p.apiGroup}\`` : 'core'} | ${p.resources.map((r) => `\`${r}\``).join(', ')}${names} | ${p.verbs.join(', ')} | ${p.neededBy} (${code}) |`;
      }),
      '',
    );
  }
  return out.join('\n');
}

export const DOCS_FILE = 'docs/security.md';
export const DOCS_BEGIN =
  '<!-- BEGIN permissions: generated by `pnpm gen` from packages/cli/src/rbac.ts; do not edit by hand -->';
export const DOCS_END = '<!-- END permissions -->';

/** docs/security.md with its generated permission tables replaced by the table's. */
export function withPermissions(doc: string): string {
  const begin = doc.indexOf(DOCS_BEGIN);
  const end = doc.indexOf(DOCS_END);
  if (begin < 0 || end < begin)
    throw new Error(`${DOCS_FILE} lacks the markers ${DOCS_BEGIN} ... ${DOCS_END}`);
  return `${doc.slice(0, begin + DOCS_BEGIN.length)}\n\n${permissionsMarkdown()}\n${doc.slice(end)}`;
}

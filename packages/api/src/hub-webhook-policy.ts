import { API_GROUP } from './checkpoint-backup.js';
import type { Schema } from './crd.js';

/**
 * What the hub's identity may do with Mutating- and ValidatingWebhookConfigurations in a member (issue 13 review;
 * docs/adr/0007 Decision 3, docs/adr/0004). RBAC cannot limit `create` by name, so with RBAC alone the hub's identity
 * could make any webhook there: send every Secret or Pod of the cluster anywhere, or block them. This
 * ValidatingAdmissionPolicy, carried to every member, lets that identity create or update only configurations named
 * `stateful-migration.*` or `stateful-migration-*` whose every webhook calls one of the hub's own routes by URL
 * (`<hub.webhook.url><route><cluster>`, HUB_WEBHOOK_ROUTES; nothing else: no service reference), and delete only
 * configurations of those names. No URL configured: it may make none. Every configuration it makes is owned by this
 * policy in its member (hubWebhookOwner), so that the chart's uninstall, which removes the policy, has the member's
 * garbage collector remove them too, whatever the hub was doing.
 */
export const HUB_WEBHOOK_POLICY = `hub-webhook-configurations.${API_GROUP}`;

/** The policy in a member (through Karmada's cluster proxy): the hub reads its uid to name it as owner. */
export const HUB_WEBHOOK_POLICY_PATH = `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${HUB_WEBHOOK_POLICY}`;

/** An ownerReference as the API has it (no controller, no blockOwnerDeletion: those need rights on the owner). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/**
 * The owner of every webhook configuration the hub makes in a member: that member's copy of the policy, which the
 * chart carries there. A configuration the hub leaves behind (an uninstall while backups keep state, a migration cut
 * short) would otherwise call a hub that is gone for good: a migration's fails its workload's pods closed. Owned, it
 * goes with the policy; and a policy deleted and made again (a new uid) takes the old ones along, which the hub makes
 * again under the new one.
 */
export function hubWebhookOwner(uid: string): OwnerReference {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    name: HUB_WEBHOOK_POLICY,
    uid,
  };
}

/** Why the hub makes no webhook configuration in a member that lacks the policy (the chart is not installed there). */
export const missingHubWebhookPolicy = (cluster: string): string =>
  `member ${cluster} has no ValidatingAdmissionPolicy ${HUB_WEBHOOK_POLICY}, which the chart carries to every ` +
  `member and which owns the hub's webhook configurations there: install the chart (installMode karmada) on the ` +
  `Karmada control plane, or check that Karmada propagated it to ${cluster}`;

/**
 * The admission server's routes the hub's webhook configurations may call: a workload migration's pods
 * (restore's PODS_ROUTE), a failover's (hub FAILOVER_ROUTE), a drain's eviction gate and replacement (drain's
 * EVICT_ROUTE, DRAIN_PODS_ROUTE). hub's main.test holds each route constant to this list.
 */
export const HUB_WEBHOOK_ROUTES = [
  '/mutate/pods/',
  '/failover/pods/',
  '/evict/pods/',
  '/drain/pods/',
] as const;

/** The hub's ServiceAccount as the members see it (Karmada's cluster proxy impersonates it). */
export const HUB_USER = 'system:serviceaccount:karmada-system:stateful-migration-hub';

/**
 * The policy and its binding. `urlCel` is a CEL string expression of the hub's webhook base URL (no trailing /),
 * e.g. `"https://hub.example.com:8443"`; the chart puts its value `hub.webhook.url` there.
 */
export function hubWebhookPolicy(urlCel: string): Schema[] {
  const routes = HUB_WEBHOOK_ROUTES.map(
    (r) => `w.clientConfig.url.startsWith(variables.hubUrl + '${r}')`,
  ).join(' || ');
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: HUB_WEBHOOK_POLICY },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['admissionregistration.k8s.io'],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE', 'DELETE'],
              resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
            },
          ],
        },
        // The hub's identity only: nobody else's webhook configurations are this policy's business.
        matchConditions: [{ name: 'the-hub', expression: `request.userInfo.username == '${HUB_USER}'` }],
        variables: [
          { name: 'hubUrl', expression: urlCel },
          // The object written, or on DELETE the one deleted.
          { name: 'config', expression: "request.operation == 'DELETE' ? oldObject : object" },
        ],
        validations: [
          {
            expression:
              "variables.config.metadata.name.startsWith('stateful-migration.') || " +
              "variables.config.metadata.name.startsWith('stateful-migration-')",
            messageExpression:
              "'the stateful-migration hub may ' + request.operation.lowerAscii() + ' only webhook configurations named stateful-migration.* or stateful-migration-*, not ' + variables.config.metadata.name",
            reason: 'Forbidden',
          },
          {
            expression:
              "request.operation == 'DELETE' || (variables.hubUrl != '' && (!has(object.webhooks) || " +
              `object.webhooks.all(w, has(w.clientConfig.url) && (${routes}))))`,
            messageExpression:
              "variables.hubUrl == '' ? 'the stateful-migration hub has no webhook URL configured (hub.webhook.url): it may make no webhook configuration' : " +
              `'every webhook of a configuration the stateful-migration hub makes calls ' + variables.hubUrl + ' on one of its routes (${HUB_WEBHOOK_ROUTES.join(', ')}), by URL'`,
            reason: 'Forbidden',
          },
          {
            // Owned by this policy (hubWebhookOwner), so that nothing the hub makes outlives the chart.
            // Only by it: the garbage collector deletes a dependent once all its owners are gone, so a second owner
            // (say, a Namespace) would keep the configuration after the chart's uninstall.
            expression:
              "request.operation == 'DELETE' || (has(object.metadata.ownerReferences) && " +
              'object.metadata.ownerReferences.size() == 1 && ' +
              "object.metadata.ownerReferences.all(o, o.apiVersion.startsWith('admissionregistration.k8s.io/') && " +
              `o.kind == 'ValidatingAdmissionPolicy' && o.name == '${HUB_WEBHOOK_POLICY}'))`,
            messageExpression: `'a webhook configuration the stateful-migration hub makes is owned by the ValidatingAdmissionPolicy ${HUB_WEBHOOK_POLICY} of its member, and by nothing else, so that removing the chart removes it'`,
            reason: 'Forbidden',
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: HUB_WEBHOOK_POLICY },
      spec: { policyName: HUB_WEBHOOK_POLICY, validationActions: ['Deny'] },
    },
  ];
}

/**
 * The owner of the hub's webhook configurations in `cluster` (hubWebhookOwner), read with `get` (a GET of a path in
 * that member, undefined on 404). A member without the policy gets no configuration: the error says why.
 */
export async function readHubWebhookOwner(
  cluster: string,
  get: (path: string) => Promise<{ metadata: { uid?: string } } | undefined>,
): Promise<OwnerReference> {
  const policy = await get(HUB_WEBHOOK_POLICY_PATH);
  if (!policy?.metadata.uid) throw new HubWebhookPolicyMissing(cluster);
  return hubWebhookOwner(policy.metadata.uid);
}

/** A member without the policy: not a failure of the call, a setup to fix (callers say it in status). */
export class HubWebhookPolicyMissing extends Error {
  readonly reason = 'HubWebhookPolicyMissing';
  constructor(readonly cluster: string) {
    super(missingHubWebhookPolicy(cluster));
  }
}

/** Whether a stored object names `owner` (by uid) among its owners: a configuration made before owners were set does not. */
export const ownedBy = (stored: { ownerReferences?: { uid?: string }[] }, owner: OwnerReference): boolean =>
  (stored.ownerReferences ?? []).some((o) => o.uid === owner.uid);

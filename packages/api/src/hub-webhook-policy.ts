import { API_GROUP } from './checkpoint-backup.js';
import type { Schema } from './crd.js';

/**
 * What the hub's identity may do with Mutating- and ValidatingWebhookConfigurations in a member (issue 13 review;
 * docs/adr/0007 Decision 3, docs/adr/0004). RBAC cannot limit `create` by name, so with RBAC alone the hub's identity
 * could make any webhook there: send every Secret or Pod of the cluster anywhere, or block them. This
 * ValidatingAdmissionPolicy, carried to every member, lets that identity create or update only configurations named
 * `stateful-migration.*` or `stateful-migration-*` whose every webhook calls one of the hub's own routes by URL
 * (`<hub.webhook.url><route><cluster>`, HUB_WEBHOOK_ROUTES; nothing else: no service reference), and delete only
 * configurations of those names. No URL configured: it may make none.
 */
export const HUB_WEBHOOK_POLICY = `hub-webhook-configurations.${API_GROUP}`;

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

import {
  API_GROUP,
  objectName,
  bounded,
  MAX_OBJECT_NAME,
  type OwnerReference,
} from '@stateful-migration/api';

/**
 * The MutatingWebhookConfiguration a workload migration puts in each member it involves (source and target), by
 * which that member's apiserver asks the hub's webhook about each new pod of the migrating workload. Scoped so that
 * nothing else ever waits for the hub: the migration's namespace only (the label every namespace carries), pods
 * whose controller is the workload's StatefulSet or one of its Deployment's ReplicaSets only (matchConditions; a
 * name is a DNS label, so it needs no quoting in CEL), CREATE only. failurePolicy Fail there: a
 * pod admitted without its gate while the hub is unreachable could run beside the source, and one admitted without
 * its checkpoint would start empty; both are worse than a pod that waits for the hub (its controller retries).
 */

/** Where a member's apiserver reaches the hub's webhook, and the CA that signed its serving certificate. */
export interface WebhookEndpoint {
  /** The base URL as members reach it, e.g. https://stateful-migration-hub.example.com:8443 (no trailing /). */
  url: string;
  /** PEM of the CA of the webhook's serving certificate. */
  caBundle: string;
}

/** The CEL of an ownerReference `o` that is the workload's controller: its StatefulSet, or a ReplicaSet of its Deployment. */
function ownerCel(w: { kind: 'Deployment' | 'StatefulSet'; name: string }): string {
  return w.kind === 'StatefulSet'
    ? `o.kind == 'StatefulSet' && o.name == '${w.name}'`
    : // The ReplicaSet's full name, as ownerWorkload derives it: a prefix would also send Deployment web-api's pods
      // for a migration of web, which would then wait for the hub (failurePolicy Fail) though nothing concerns them.
      `o.kind == 'ReplicaSet' && has(object.metadata.labels) && 'pod-template-hash' in object.metadata.labels && ` +
        `o.name == '${w.name}-' + object.metadata.labels['pod-template-hash']`;
}

/** The members' collection of mutating webhook configurations (through the cluster proxy). */
export const WEBHOOKS_PATH = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';

/** The route of pod mutations; the cluster the call comes from is the last path segment. */
export const PODS_ROUTE = '/mutate/pods/';

/** Every webhook configuration the hub makes is named so, and labelled managed-by (the sweep finds them so). */
export const WEBHOOK_CONFIG_PREFIX = 'stateful-migration.';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'stateful-migration-hub';

export const webhookConfigName = (namespace: string, restore: string): string =>
  objectName(`${WEBHOOK_CONFIG_PREFIX}${namespace}.${restore}`);

/** The annotation on a configuration naming its CheckpointRestore `<namespace>/<name>` whole (the sweep reads it). */
export const OWNER_ANNOTATION = `${API_GROUP}/restore`;

/** A webhook's name, fully qualified: the restore's part is shortened (with a hash) so the rest always fits. */
function webhookName(namespace: string, restore: string): string {
  const rest = `.${namespace}.pods.${API_GROUP}`;
  return `${bounded(restore, MAX_OBJECT_NAME - rest.length)}${rest}`;
}

export function webhookConfiguration(i: {
  namespace: string;
  restore: string;
  cluster: string;
  /** The migrating workload: only its pods are sent (a StatefulSet's, or a ReplicaSet's named after the Deployment). */
  workload: { kind: 'Deployment' | 'StatefulSet'; name: string };
  endpoint: WebhookEndpoint;
  ownerLabel: Record<string, string>;
  /** The member's hub webhook policy (hubWebhookOwner): the chart's uninstall takes the configuration along. */
  owner: OwnerReference;
}): Record<string, unknown> & {
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
} {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name: webhookConfigName(i.namespace, i.restore),
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, ...i.ownerLabel },
      // The owner label is hashed when `<namespace>.<restore>` is longer than 63 and the name cut past 253: this is
      // what says whose it is, whole.
      annotations: { [OWNER_ANNOTATION]: `${i.namespace}/${i.restore}` },
      ownerReferences: [i.owner],
    },
    webhooks: [
      {
        // A webhook's name must be fully qualified; this one names the migration.
        name: webhookName(i.namespace, i.restore),
        clientConfig: {
          url: `${i.endpoint.url}${PODS_ROUTE}${encodeURIComponent(i.cluster)}`,
          caBundle: Buffer.from(i.endpoint.caBundle).toString('base64'),
        },
        rules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': i.namespace } },
        matchConditions: [
          {
            name: 'controlled-by-the-workload',
            expression:
              'has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, ' +
              `has(o.controller) && o.controller && ${ownerCel(i.workload)})`,
          },
        ],
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 10,
        reinvocationPolicy: 'Never',
      },
    ],
  };
}

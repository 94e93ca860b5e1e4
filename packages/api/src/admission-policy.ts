import { API_GROUP, PLURAL } from './checkpoint-backup.js';
import type { Schema } from './crd.js';
import { NAMESPACED_REFS, crossNamespaceMessage, ownNamespaceRule, type NamespacedRef } from './tenancy.js';
import { keepStateCelRules } from './keep-state.js';
import { workloadCelRules } from './workload.js';

/**
 * The admission side of "a CheckpointBackup acts only in its own namespace" (issue 11). A CRD validation rule
 * cannot do it: CEL in x-kubernetes-validations sees only metadata.name and metadata.generateName of the root object,
 * never metadata.namespace. A ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1, GA since Kubernetes 1.30)
 * sees the whole object, with the namespace the apiserver has already set from the request path, so it can compare.
 * The same policy goes to every member (deploy/) and to the Karmada apiserver (karmada/).
 */
export const OWN_NAMESPACE_POLICY = `${PLURAL}-own-namespace.${API_GROUP}`;

/** CEL for `object.spec.<field>.namespace`, guarded with has() at every optional step. */
function celGuard(field: NamespacedRef): { path: string; present: string } {
  const steps = ['object', 'spec', ...field.split('.'), 'namespace'];
  const present: string[] = [];
  // object.spec is required by the CRD; each step below it may be absent.
  for (let i = 3; i <= steps.length; i++) present.push(`has(${steps.slice(0, i).join('.')})`);
  return { path: steps.join('.'), present: present.join(' && ') };
}

/**
 * The message as a CEL string expression: the controllers' own message (crossNamespaceMessage), with the two
 * namespaces read from the object, so admission and the agent, hub and restore controller say the same words.
 */
export function celMessage(field: NamespacedRef): string {
  // Placeholders no namespace can contain (DNS labels have no braces), replaced by CEL field paths.
  const NS = '{ns}';
  const OWN = '{own}';
  const { path } = celGuard(field);
  return crossNamespaceMessage(field, NS, OWN)
    .split(/(\{ns\}|\{own\})/)
    .filter((part) => part !== '')
    .map((part) => (part === NS ? path : part === OWN ? 'object.metadata.namespace' : JSON.stringify(part)))
    .join(' + ');
}

/** One validation per field: omitted, empty, or the object's own namespace. */
export function celValidation(field: NamespacedRef): Schema {
  const { path, present } = celGuard(field);
  return {
    expression: `!(${present}) || ${path} == '' || ${path} == object.metadata.namespace`,
    messageExpression: celMessage(field),
    // Used only if messageExpression cannot be evaluated.
    message: `spec.${field}.namespace is not this object's namespace: ${ownNamespaceRule()}`,
    reason: 'Forbidden',
  };
}

/** The ValidatingAdmissionPolicy and its binding, as applied to members (deploy/) and to Karmada (karmada/). */
export function ownNamespaceAdmissionPolicy(): Schema[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: OWN_NAMESPACE_POLICY },
      spec: {
        // An expression that cannot be evaluated refuses the write rather than letting it through.
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: [API_GROUP],
              apiVersions: ['*'],
              operations: ['CREATE', 'UPDATE'],
              // The main resource only: status and finalizer writes of the agent and the hub are not spec.
              resources: [PLURAL],
            },
          ],
        },
        // Only writes of spec: an object stored before the policy can still be deleted (finalizers released) and
        // have its status written; the controllers refuse it on their own.
        matchConditions: [
          {
            name: 'spec-written',
            expression: "request.operation == 'CREATE' || oldObject.spec != object.spec",
          },
        ],
        validations: [
          ...NAMESPACED_REFS.map(celValidation),
          // The CRD says the same (crd.ts); here it also holds on an apiserver whose CRD predates the rule.
          ...workloadCelRules('object.spec', 'object.metadata').map((r) => ({ ...r, reason: 'Invalid' })),
          ...keepStateCelRules('object.spec').map((r) => ({ ...r, reason: 'Invalid' })),
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: OWN_NAMESPACE_POLICY },
      spec: { policyName: OWN_NAMESPACE_POLICY, validationActions: ['Deny'] },
    },
  ];
}

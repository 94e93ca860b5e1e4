import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OWN_NAMESPACE_POLICY, celMessage, ownNamespaceAdmissionPolicy } from './admission-policy.js';
import { NAMESPACED_REFS, crossNamespaceMessage } from './tenancy.js';

type Policy = {
  kind: string;
  metadata: { name: string };
  spec: {
    failurePolicy?: string;
    policyName?: string;
    validationActions?: string[];
    matchConstraints?: { resourceRules: { resources: string[]; operations: string[] }[] };
    matchConditions?: { expression: string }[];
    validations?: { expression: string; messageExpression: string; reason: string }[];
  };
};

/**
 * Evaluates the only CEL form celMessage produces: string literals (JSON-compatible) and field paths joined by +.
 * Enough to show the admission message is, word for word, the controllers' message.
 */
function evalConcat(expr: string, fields: Record<string, string>): string {
  const parts = expr.match(/"(?:[^"\\]|\\.)*"|[a-zA-Z_.]+/g) ?? [];
  return parts.map((p) => (p.startsWith('"') ? (JSON.parse(p) as string) : fields[p]!)).join('');
}

describe('the own-namespace ValidatingAdmissionPolicy', () => {
  const [policy, binding] = ownNamespaceAdmissionPolicy() as [Policy, Policy];

  it('is bound, denying, and fails closed', () => {
    assert.equal(policy.kind, 'ValidatingAdmissionPolicy');
    assert.equal(policy.spec.failurePolicy, 'Fail');
    assert.equal(binding.kind, 'ValidatingAdmissionPolicyBinding');
    assert.equal(binding.spec.policyName, OWN_NAMESPACE_POLICY);
    assert.deepEqual(binding.spec.validationActions, ['Deny']);
  });

  it('checks creates and spec updates of checkpointbackups, not their status or finalizers', () => {
    assert.deepEqual(policy.spec.matchConstraints!.resourceRules[0]!.resources, ['checkpointbackups']);
    assert.deepEqual(policy.spec.matchConstraints!.resourceRules[0]!.operations, ['CREATE', 'UPDATE']);
    assert.deepEqual(
      policy.spec.matchConditions!.map((c) => c.expression),
      ["request.operation == 'CREATE' || oldObject.spec != object.spec"],
    );
  });

  it('has one rule per namespaced reference (and the two of a spec without podRef, the three of keepState), each guarded with has() down to the namespace', () => {
    const v = policy.spec.validations!;
    assert.equal(v.length, NAMESPACED_REFS.length + 2 + 3);
    assert.equal(
      v[2]!.expression,
      '!(has(object.spec.registry) && has(object.spec.registry.secretRef) && has(object.spec.registry.secretRef.namespace))' +
        " || object.spec.registry.secretRef.namespace == '' || object.spec.registry.secretRef.namespace == object.metadata.namespace",
    );
    for (const x of v.slice(0, NAMESPACED_REFS.length)) assert.equal(x.reason, 'Forbidden');
    for (const x of v.slice(NAMESPACED_REFS.length)) assert.equal(x.reason, 'Invalid');
  });

  for (const field of NAMESPACED_REFS)
    it(`says, for spec.${field}, exactly what the agent, hub and restore controller say`, () => {
      const path = `object.spec.${field}.namespace`;
      const got = evalConcat(celMessage(field), { [path]: 'other', 'object.metadata.namespace': 'shop' });
      assert.equal(got, crossNamespaceMessage(field, 'other', 'shop'));
    });
});

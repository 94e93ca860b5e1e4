// suite: shares — its own webhook configurations in member1, named after its namespace and selecting no namespace
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { readState } from '../fed/procs.js';
import { eventually, unique } from './support.js';

/**
 * The hub's identity in a member, with exactly the shipped RBAC (create, update, delete of any
 * MutatingWebhookConfiguration: RBAC cannot limit create by name) and the shipped ValidatingAdmissionPolicy
 * hub-webhook-configurations.migration.dcnlab.com, carried by Karmada: it may create only configurations named
 * `stateful-migration.*` whose webhooks call the hub's URL, and delete only those. Requests are made in member1 as
 * the hub's ServiceAccount (impersonated, as Karmada's cluster proxy does).
 */
const ns = unique('vap');
const POLICY = 'hub-webhook-configurations.migration.dcnlab.com';
const HUB = 'system:serviceaccount:karmada-system:stateful-migration-hub';
const asHub = (args: string[], input?: string) => kubectl('member1', [`--as=${HUB}`, ...args], input);
const admin = (args: string[], input?: string) => kubectl('member1', args, input);
const hubUrl = () => `https://127.0.0.1:${readState()!.ports['hub-webhook']}`;

/** member1's copy of the policy's uid: every configuration the hub makes names the policy as its owner. */
let policyUid = '';
const policyOwner = () =>
  `{apiVersion: admissionregistration.k8s.io/v1, kind: ValidatingAdmissionPolicy, name: ${POLICY}, uid: ${policyUid}}`;
const config = (
  name: string,
  url: string,
  kind = 'MutatingWebhookConfiguration',
  owners = [policyOwner()],
) => `apiVersion: admissionregistration.k8s.io/v1
kind: ${kind}
metadata:
  name: ${name}
${owners.length ? `  ownerReferences: [${owners.join(', ')}]` : ''}
webhooks:
- name: pods.${ns}.vap.dcnlab.com
  clientConfig: {url: "${url}"}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}]
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${ns}-none}}
  failurePolicy: Ignore
  sideEffects: None
  admissionReviewVersions: [v1]
`;

describe("the members' policy on the hub's webhook configurations", () => {
  const made: string[] = [];
  before(async () => {
    await eventually(
      async () =>
        (await admin(['get', 'validatingadmissionpolicybinding', POLICY, '-o', 'name']).then(
          () => true,
          () => undefined,
        )) ?? undefined,
      120_000,
      `Karmada to carry ${POLICY} and its binding to member1`,
    );
    policyUid = await admin(['get', 'validatingadmissionpolicy', POLICY, '-o', 'jsonpath={.metadata.uid}']);
    assert.ok(policyUid);
  });
  after(async () => {
    for (const name of made)
      for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration'])
        await admin(['delete', kind, name, '--ignore-not-found']).catch(() => undefined);
  });

  it('RBAC alone would let the hub create any: it may', async () => {
    assert.equal((await asHub(['auth', 'can-i', 'create', 'mutatingwebhookconfigurations'])).trim(), 'yes');
  });

  it('refuses a configuration of another name, even one calling the hub', async () => {
    made.push(`evil.${ns}`);
    await assert.rejects(
      asHub(['create', '-f', '-'], config(`evil.${ns}`, `${hubUrl()}/mutate/pods/member1`)),
      new RegExp(
        `${POLICY}.*only webhook configurations named stateful-migration\\.\\* or stateful-migration-\\*, not evil\\.${ns}`,
      ),
    );
  });

  it("refuses a stateful-migration.* configuration that calls anywhere but the hub's URL", async () => {
    made.push(`stateful-migration.${ns}.away`);
    for (const url of [
      'https://attacker.example/mutate/pods/member1',
      `${hubUrl()}/mutate/other/member1`,
      'https://127.0.0.1:1/mutate/pods/member1',
    ])
      await assert.rejects(
        asHub(['create', '-f', '-'], config(`stateful-migration.${ns}.away`, url)),
        new RegExp(
          `${POLICY}.*calls https://127\\.0\\.0\\.1:\\d+ on one of its routes \\(/mutate/pods/, .*\\), by URL`,
        ),
        url,
      );
  });

  it('holds validating configurations (the eviction gate) to the same rule, and admits the routes of failover and drain', async () => {
    const v = `stateful-migration.${ns}.gate`;
    made.push(v);
    await assert.rejects(
      asHub(
        ['create', '-f', '-'],
        config(v, 'https://attacker.example/evict/pods/member1', 'ValidatingWebhookConfiguration'),
      ),
      new RegExp(`${POLICY}.*by URL`),
    );
    await asHub(
      ['create', '-f', '-'],
      config(v, `${hubUrl()}/evict/pods/member1`, 'ValidatingWebhookConfiguration'),
    );
    // (RBAC lets the hub delete only stateful-migration.keep-state among validating configurations.)
    await admin(['delete', 'validatingwebhookconfiguration', v]);
    const f = `stateful-migration-failover.${ns}.db`;
    made.push(f);
    await asHub(['create', '-f', '-'], config(f, `${hubUrl()}/failover/pods/member1`));
    await asHub(['delete', 'mutatingwebhookconfiguration', f]);
  });

  it('refuses one not owned by the policy, or owned by something else too: it would outlive the chart', async () => {
    const name = `stateful-migration.${ns}.orphan`;
    made.push(name);
    const kubeSystem = (
      await admin(['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    for (const owners of [
      [],
      [policyOwner(), `{apiVersion: v1, kind: Namespace, name: kube-system, uid: ${kubeSystem}}`],
    ])
      await assert.rejects(
        asHub(['create', '-f', '-'], config(name, `${hubUrl()}/mutate/pods/member1`, undefined, owners)),
        new RegExp(
          `${POLICY}.*is owned by the ValidatingAdmissionPolicy ${POLICY} of its member, and by nothing else`,
        ),
        owners.join(' '),
      );
  });

  it("allows the hub's own, and its deletion; refuses deleting anyone else's", async () => {
    const ours = `stateful-migration.${ns}.ok`;
    made.push(ours);
    await asHub(['create', '-f', '-'], config(ours, `${hubUrl()}/mutate/pods/member1`));
    await asHub(['delete', 'mutatingwebhookconfiguration', ours]);
    const theirs = `someone-else.${ns}`;
    made.push(theirs);
    await admin(['create', '-f', '-'], config(theirs, 'https://elsewhere.example/x'));
    await assert.rejects(
      asHub(['delete', 'mutatingwebhookconfiguration', theirs]),
      new RegExp(`${POLICY}.*may delete only webhook configurations named stateful-migration`),
    );
    assert.ok(await admin(['get', 'mutatingwebhookconfiguration', theirs, '-o', 'name']));
  });
});

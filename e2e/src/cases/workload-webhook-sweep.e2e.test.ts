// suite: shares — its webhook configurations select only its own namespace
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { eventually, unique } from './support.js';

/**
 * The hub's sweep of webhook configurations no migration needs (docs/adr/0007 Decision 3): a configuration the hub
 * made for a CheckpointRestore that is gone (its finalizer removed by hand, the hub uninstalled meanwhile) still
 * sends every new pod of its namespace to a webhook that does not answer, with failurePolicy Fail: no pod can be
 * created. The hub, with exactly the shipped RBAC, finds it in the member and deletes it; a user's configuration of a
 * like name, not labelled as the hub's, stays.
 */
const ns = unique('sweep');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const member = (args: string[], input?: string) => kubectl('member1', args, input);
const left = `stateful-migration.${ns}.gone`;
const users = `stateful-migration-users.${ns}`;

const config = (
  name: string,
  labels: string,
  failurePolicy: string,
) => `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: ${name}
  labels: {${labels}}
webhooks:
- name: gone.${ns}.pods.migration.dcnlab.com
  clientConfig: {url: "https://127.0.0.1:1/mutate/pods/member1"}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}]
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${ns}}}
  failurePolicy: ${failurePolicy}
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 2
`;

const pod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
  containers: [{name: c, image: registry.local/counter:1}]
`;

describe("the hub sweeps a member's webhook configurations whose CheckpointRestore is gone", () => {
  before(async () => {
    await hub(['create', 'namespace', ns]);
    await eventually(
      async () =>
        await member(['get', 'namespace', ns])
          .then(() => true)
          .catch(() => undefined),
      60_000,
      `namespace ${ns} in member1`,
    );
    await member(
      ['apply', '-f', '-'],
      `${config(left, `app.kubernetes.io/managed-by: stateful-migration-hub, migration.dcnlab.com/restore-owner: ${ns}.gone`, 'Fail')}---
${config(users, 'app.kubernetes.io/managed-by: someone-else', 'Ignore')}`,
    );
  });
  after(async () => {
    await member(['delete', 'mutatingwebhookconfiguration', left, users, '--ignore-not-found']).catch(
      () => undefined,
    );
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it("the left configuration blocks every pod of its namespace until the hub deletes it; the user's stays", async () => {
    await assert.rejects(member(['create', '-f', '-'], pod('blocked')), /failed calling webhook/);
    await eventually(
      async () =>
        (await member(['get', 'mutatingwebhookconfiguration', left])
          .then(() => false)
          .catch(() => true)) || undefined,
      120_000,
      `the hub to delete ${left} from member1`,
    );
    await member(['create', '-f', '-'], pod('admitted'));
    assert.ok(await member(['get', 'pod', 'admitted', '-n', ns, '-o', 'name']));
    assert.ok(await member(['get', 'mutatingwebhookconfiguration', users, '-o', 'name']), "the user's stays");
    const logs = await member(['get', 'mutatingwebhookconfiguration', '-o', 'name']);
    assert.doesNotMatch(logs, new RegExp(left.replaceAll('.', '\\.')));
  });
});

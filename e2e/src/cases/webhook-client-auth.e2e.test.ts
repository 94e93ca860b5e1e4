// suite: shares — own namespace, and a webhook configuration selecting only it
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import { readState } from '../fed/procs.js';
import { httpsCall } from '@stateful-migration/kube/testing';
import { eventually, unique } from './support.js';

/**
 * The hub's admission webhook answers only the members' apiservers (docs/security.md): the hub runs with
 * --webhook-client-ca, and each member's kube-apiserver presents a client certificate to webhooks through its
 * AdmissionConfiguration (--admission-control-config-file, a kubeConfigFile whose user is picked by the webhook's
 * host:port). A caller without a certificate, or with one the CA did not sign, gets 403 and no answer; /healthz
 * stays open; a member's apiserver calling the webhook for a pod is answered, so the pod is created.
 */
const ns = unique('whauth');
const pki = join(fedDir, 'pki');
const port = () => readState()!.ports['hub-webhook']!;
const member = (args: string[], input?: string) => kubectl('member1', args, input);
const config = `webhook-client-auth.${ns}`;

const call = (method: string, path: string, client?: { cert: string; key: string }) =>
  httpsCall({
    port: port(),
    method,
    path,
    ca: readFileSync(join(pki, 'ca.crt')),
    ...(client ? { client: { cert: readFileSync(client.cert), key: readFileSync(client.key) } } : {}),
    ...(method === 'POST'
      ? {
          body: JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            request: {
              uid: 'u1',
              operation: 'CREATE',
              namespace: ns,
              kind: { group: '', version: 'v1', kind: 'Pod' },
              object: { metadata: { name: 'p', namespace: ns }, spec: { containers: [] } },
            },
          }),
        }
      : {}),
  });

describe("the hub's admission webhook answers only the members' apiservers", () => {
  before(async () => {
    await kubectl('karmada', ['create', 'namespace', ns]);
    await eventually(
      async () =>
        await member(['get', 'namespace', ns]).then(
          () => true,
          () => undefined,
        ),
      60_000,
      `namespace ${ns} in member1`,
    );
  });
  after(async () => {
    await member(['delete', 'mutatingwebhookconfiguration', config, '--ignore-not-found']).catch(
      () => undefined,
    );
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('refuses a caller without a client certificate (403), keeps /healthz open', async () => {
    const r = await call('POST', '/mutate/pods/member1');
    assert.equal(r.code, 403, r.text);
    assert.match(r.text, /client certificate/);
    assert.deepEqual(await call('GET', '/healthz'), { code: 200, text: 'ok' });
  });

  it("answers a caller presenting the members' client certificate", async () => {
    const r = await call('POST', '/mutate/pods/member1', {
      cert: join(pki, 'webhook-client.crt'),
      key: join(pki, 'webhook-client.key'),
    });
    assert.equal(r.code, 200, r.text);
    assert.equal((JSON.parse(r.text) as { response: { allowed: boolean } }).response.allowed, true);
  });

  it("a member's apiserver is answered: a pod its webhook (failurePolicy Fail) is called for is created", async () => {
    const ca = readFileSync(join(pki, 'ca.crt')).toString('base64');
    await member(
      ['apply', '-f', '-'],
      `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: ${config}}
webhooks:
- name: pods.${ns}.webhook-client-auth.dcnlab.com
  clientConfig: {url: "https://127.0.0.1:${port()}/mutate/pods/member1", caBundle: ${ca}}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}]
  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ${ns}}}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
`,
    );
    await member(
      ['create', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: called, namespace: ${ns}}
spec:
  containers: [{name: c, image: registry.local/counter:1}]
`,
    );
    assert.ok(await member(['get', 'pod', 'called', '-n', ns, '-o', 'name']));
  });
});

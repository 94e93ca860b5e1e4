import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HUB_WEBHOOK_ROUTES, hubWebhookOwner, hubWebhookPolicy } from '@stateful-migration/api';
import { DRAIN_PODS_ROUTE, EVICT_ROUTE, KEEP_STATE_WEBHOOKS } from '@stateful-migration/drain';
import { PODS_ROUTE, sweptOwner } from '@stateful-migration/restore';
import { FAILOVER_ROUTE, failoverWebhookConfiguration, failoverWebhookName } from './failover/webhook.js';

// The members' ValidatingAdmissionPolicy limits the hub's identity to webhook configurations calling its own routes
// (packages/api/src/hub-webhook-policy.ts). A route the hub serves but the policy does not name would have its
// configuration refused in every member that carries the policy: the feature would silently never work there.

describe("the hub's webhook routes and the members' policy", () => {
  it('the policy names exactly the routes the admission server serves', () => {
    assert.deepEqual(
      [...HUB_WEBHOOK_ROUTES].sort(),
      [PODS_ROUTE, FAILOVER_ROUTE, EVICT_ROUTE, DRAIN_PODS_ROUTE].sort(),
    );
  });

  it('the policy matches both kinds of webhook configuration, and its name rule admits every name the hub makes', () => {
    const [policy] = hubWebhookPolicy('"https://hub:8443"') as {
      spec: {
        matchConstraints: { resourceRules: { resources: string[] }[] };
        validations: { expression: string }[];
      };
    }[];
    assert.deepEqual(policy!.spec.matchConstraints.resourceRules[0]!.resources.sort(), [
      'mutatingwebhookconfigurations',
      'validatingwebhookconfigurations',
    ]);
    const prefixes = [...policy!.spec.validations[0]!.expression.matchAll(/startsWith\('([^']+)'\)/g)].map(
      (m) => m[1]!,
    );
    for (const name of [
      KEEP_STATE_WEBHOOKS,
      failoverWebhookName('shop', 'db'),
      'stateful-migration.shop.move',
    ])
      assert.ok(
        prefixes.some((p) => name.startsWith(p)),
        `${name} is admitted by ${prefixes.join(' or ')}`,
      );
  });

  it("the migrations' sweep never takes a failover's or a drain's standing configuration for a migration's", () => {
    const failover = failoverWebhookConfiguration({
      backup: {
        metadata: { name: 'db', namespace: 'shop' },
        spec: {
          schedule: '* * * * *',
          resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
          keepState: { clusterFailover: { maxAgeSeconds: 900 } },
        },
      },
      cluster: 'member1',
      endpoint: { url: 'https://hub:8443', caBundle: 'Y2E=' },
      owner: hubWebhookOwner('u'),
    });
    assert.equal(sweptOwner({ name: failover.metadata.name, labels: failover.metadata.labels }), undefined);
    assert.equal(
      sweptOwner({
        name: KEEP_STATE_WEBHOOKS,
        labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
      }),
      undefined,
    );
  });
});

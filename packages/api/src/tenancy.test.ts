import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from './checkpoint-backup.js';
import {
  CROSS_NAMESPACE,
  DEFAULT_SECRET_NOT_FOR_REGISTRY,
  DEFAULT_SECRET_NOT_FOR_REPOSITORY,
  INVALID_REFERENCE_NAME,
  NAMESPACED_REFS,
  crossNamespaceRef,
  normalHost,
  parseRegistryHosts,
  refusal,
  registryCredentials,
} from './tenancy.js';

const b = (spec: Partial<CheckpointBackup['spec']> = {}, namespace = 'shop'): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace },
  spec: {
    schedule: 'immediately',
    podRef: { name: 'db-0' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    ...spec,
  },
});

const registry = (url: string, secretRef?: { name: string; namespace?: string }, repository = 'shop/ck') => ({
  registry: { url, repository, ...(secretRef ? { secretRef } : {}) },
});

describe('crossNamespaceRef: a CheckpointBackup acts only in its own namespace', () => {
  const ok: [string, Partial<CheckpointBackup['spec']>][] = [
    ['no namespace anywhere (seed 000 without namespaces)', {}],
    [
      "each namespace the object's own (seed 000 as written)",
      {
        podRef: { name: 'db-0', namespace: 'shop' },
        resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'shop' },
        ...registry('r.example', { name: 'creds', namespace: 'shop' }),
      },
    ],
    ['an empty namespace means the default, the object’s own', { podRef: { name: 'db-0', namespace: '' } }],
    ['a secretRef without namespace', registry('r.example', { name: 'creds' })],
    ['no secretRef (the default secret is judged by registryCredentials)', registry('r.example')],
  ];
  for (const [name, spec] of ok)
    it(`accepts ${name}`, () => assert.equal(crossNamespaceRef(b(spec)), undefined));

  const refused: [string, Partial<CheckpointBackup['spec']>, string][] = [
    [
      'spec.podRef.namespace',
      { podRef: { name: 'db-0', namespace: 'other' } },
      'spec.podRef.namespace "other" is not this object\'s namespace "shop": a CheckpointBackup acts only in its own namespace',
    ],
    [
      'spec.resourceRef.namespace',
      { resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'other' } },
      'spec.resourceRef.namespace "other" is not this object\'s namespace "shop": a CheckpointBackup acts only in its own namespace',
    ],
    [
      'spec.registry.secretRef.namespace, the platform’s namespace included',
      registry('r.example', { name: 'registry-credentials', namespace: 'stateful-migration' }),
      'spec.registry.secretRef.namespace "stateful-migration" is not this object\'s namespace "shop": a CheckpointBackup acts only in its own namespace',
    ],
    [
      'a namespace that only starts like the object’s (shop-b is not shop)',
      { podRef: { name: 'db-0', namespace: 'shop-b' } },
      'spec.podRef.namespace "shop-b" is not this object\'s namespace "shop": a CheckpointBackup acts only in its own namespace',
    ],
  ];
  for (const [name, spec, message] of refused)
    it(`refuses ${name}, naming the field and the rule`, () =>
      assert.deepEqual(crossNamespaceRef(b(spec)), { reason: CROSS_NAMESPACE, message }));

  it('names the first offending field in the order podRef, resourceRef, registry.secretRef', () => {
    const all = b({
      podRef: { name: 'p', namespace: 'a' },
      resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'p', namespace: 'b' },
      ...registry('r', { name: 's', namespace: 'c' }),
    });
    assert.match(crossNamespaceRef(all)!.message, /^spec\.podRef\.namespace "a"/);
    assert.deepEqual(NAMESPACED_REFS, ['podRef', 'resourceRef', 'registry.secretRef']);
  });

  it('says CheckpointRestore when a restore is the one refused', () =>
    assert.match(
      crossNamespaceRef(b({ podRef: { name: 'p', namespace: 'a' } }), 'CheckpointRestore')!.message,
      /: a CheckpointRestore acts only in its own namespace$/,
    ));
});

describe('registryCredentials: the default secret only for the registries the platform names for it', () => {
  const platform = ['registry.platform.example:5000', '127.0.0.1:5000'];

  it('no registry: no credentials at all', () =>
    assert.deepEqual(registryCredentials(b(), platform), { kind: 'none' }));

  it("an object's own secret, in its own namespace, for any registry the tenant writes", () => {
    assert.deepEqual(registryCredentials(b(registry('tenant.example', { name: 'creds' })), []), {
      kind: 'own',
      secret: { name: 'creds', namespace: 'shop' },
    });
    assert.deepEqual(
      registryCredentials(b(registry('tenant.example', { name: 'creds', namespace: 'shop' })), []),
      { kind: 'own', secret: { name: 'creds', namespace: 'shop' } },
    );
  });

  it('the default secret for a registry the platform names, however the host is cased', () => {
    for (const url of ['127.0.0.1:5000', 'Registry.Platform.Example:5000', 'registry.platform.example:5000/'])
      assert.deepEqual(registryCredentials(b(registry(url)), platform), {
        kind: 'default',
        secret: { name: 'registry-credentials', namespace: 'stateful-migration' },
      });
  });

  const refused: [string, string, string[], RegExp][] = [
    [
      'a host the tenant wrote',
      'evil.example',
      platform,
      /^spec\.registry\.url "evil\.example" is not a registry the platform's default secret stateful-migration\/registry-credentials is for \(it is for: registry\.platform\.example:5000, 127\.0\.0\.1:5000\); name a secret in this namespace in spec\.registry\.secretRef$/,
    ],
    ['the same host on another port', '127.0.0.1:5001', platform, /"127\.0\.0\.1:5001" is not a registry/],
    ['the host without its port', 'registry.platform.example', platform, /is not a registry/],
    ['a scheme (never a bare host)', 'https://127.0.0.1:5000', platform, /is not a registry/],
    ['a path after the host', '127.0.0.1:5000/../evil', platform, /is not a registry/],
    ['userinfo before another host', '127.0.0.1:5000@evil.example', platform, /is not a registry/],
    [
      'any host when the platform names none',
      '127.0.0.1:5000',
      [],
      /\(the platform names no registry for it\); name a secret in this namespace in spec\.registry\.secretRef$/,
    ],
  ];
  for (const [name, url, hosts, message] of refused)
    it(`refuses ${name}`, () => {
      const c = registryCredentials(b(registry(url)), hosts);
      assert.equal(c.kind, 'refused');
      assert.equal((c as { reason: string }).reason, DEFAULT_SECRET_NOT_FOR_REGISTRY);
      assert.match((c as { message: string }).message, message);
    });
});

describe("registryCredentials: the default secret pushes only under the object's namespace", () => {
  const platform = ['registry.platform.example:5000'];
  const url = 'registry.platform.example:5000';
  const def = { kind: 'default', secret: { name: 'registry-credentials', namespace: 'stateful-migration' } };

  for (const repository of ['shop', 'shop/ck', '/shop/ck/', 'shop/a/b'])
    it(`accepts repository "${repository}" for an object of namespace shop`, () =>
      assert.deepEqual(registryCredentials(b(registry(url, undefined, repository)), platform), def));

  for (const repository of [
    'other/ck',
    'ck/shop',
    'shop-b/ck',
    'shopx',
    'team/ck',
    'shop/../other',
    './shop',
    // The registry client's URL parser resolves these into other/ck: another tenant's repository.
    'shop/%2e%2e/other/ck',
    'shop/%2E%2e/other/ck',
    'shop\\..\\other\\ck',
    'shop/.%2e/other/ck',
    'shop//ck',
    'shop/CK',
  ])
    it(`refuses repository "${repository}" (DefaultSecretNotForRepository), naming the rule`, () => {
      const c = registryCredentials(b(registry(url, undefined, repository)), platform);
      assert.deepEqual(c, {
        kind: 'refused',
        reason: DEFAULT_SECRET_NOT_FOR_REPOSITORY,
        message:
          `spec.registry.repository "${repository}" is not under this object's namespace: with the platform's ` +
          'default secret stateful-migration/registry-credentials a CheckpointBackup pushes only to repositories ' +
          'whose first path segment is its namespace ("shop/..."); set spec.registry.repository to one, or name a ' +
          'secret in this namespace in spec.registry.secretRef',
      });
    });

  it("an object's own secret may push to any repository of its registry", () =>
    assert.equal(registryCredentials(b(registry(url, { name: 'creds' }, 'team/ck')), platform).kind, 'own'));
});

describe('refusal: what the agent, the hub and the restore controller refuse before acting', () => {
  it('a cross-namespace reference first, then the default secret', () => {
    const both = b({ podRef: { name: 'p', namespace: 'x' }, ...registry('evil.example') });
    assert.equal(refusal(both, [])?.reason, CROSS_NAMESPACE);
    assert.equal(refusal(b(registry('evil.example')), [])?.reason, DEFAULT_SECRET_NOT_FOR_REGISTRY);
    assert.equal(refusal(b(registry('127.0.0.1:5000')), ['127.0.0.1:5000']), undefined);
    assert.equal(refusal(b(), []), undefined);
  });
});

describe('parseRegistryHosts', () => {
  it('reads a comma-separated flag: trimmed, lowercased, empty entries dropped', () => {
    assert.deepEqual(parseRegistryHosts(' A.example:5000, ,b.example,'), ['a.example:5000', 'b.example']);
    assert.deepEqual(parseRegistryHosts(''), []);
    assert.deepEqual(parseRegistryHosts(undefined), []);
  });

  it('drops the https port, as the registry client writes a host: reg:443 is reg', () =>
    assert.deepEqual(parseRegistryHosts('Reg.Example:443,reg:5000'), ['reg.example', 'reg:5000']));
});

describe('normalHost', () => {
  it('rewrites only a bare host[:port]; a scheme, a path, userinfo or a query stays another string', () => {
    for (const [url, host] of [
      ['reg:443', 'reg'],
      [' REG:443/ ', 'reg'],
      ['reg:5000', 'reg:5000'],
      ['[::1]:443', '[::1]'],
      ['https://reg', 'https://reg'],
      ['reg:443/x', 'reg:443/x'],
      ['u@reg:443', 'u@reg:443'],
      ['reg?x', 'reg?x'],
    ] as const)
      assert.equal(normalHost(url), host, url);
  });
});

describe('crossNamespaceRef: a name is one object of the own namespace, never a path into another', () => {
  // Every controller builds request paths as `/namespaces/<own>/<resource>/<name>`; the URL parser resolves dot
  // segments (and, for https, backslashes), so `../../other/secrets/x` would read another namespace's object (the
  // platform's default registry secret, another tenant's), and Migrate would scale another tenant's workload.
  const traversals = [
    '../../stateful-migration/secrets/registry-credentials',
    '..\\..\\other\\secrets\\creds',
    '%2e%2e/%2e%2e/other/secrets/creds',
    'x/../../../other/secrets/creds',
    '..',
    'Creds',
    'a'.repeat(254),
  ];
  const fields: [string, (name: string) => Partial<CheckpointBackup['spec']>][] = [
    ['spec.podRef.name', (name) => ({ podRef: { name } })],
    [
      'spec.resourceRef.name',
      (name) => ({ resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name } }),
    ],
    ['spec.registry.secretRef.name', (name) => registry('r.example', { name })],
    [
      'spec.encryption.publicKeysRef.name',
      (name) => ({
        ...registry('r.example', { name: 'creds' }),
        encryption: { publicKeysRef: { kind: 'Secret', name } },
      }),
    ],
  ];
  for (const [field, spec] of fields)
    for (const name of traversals)
      it(`refuses ${field} ${JSON.stringify(name.slice(0, 60))}, naming the field and the rule`, () => {
        const r = crossNamespaceRef(b(spec(name)));
        assert.equal(r?.reason, INVALID_REFERENCE_NAME);
        assert.ok(r!.message.startsWith(`${field} "`), r!.message);
        assert.match(r!.message, /is not the name of an object \(lowercase letters, digits, '-' and '\.'/);
        // refusal(), which the agent, the hub and the restore controller ask, says the same.
        assert.deepEqual(refusal(b(spec(name)), ['r.example']), r);
      });

  it('accepts names as Kubernetes makes them (DNS subdomains)', () => {
    for (const name of ['db-0', 'web.v2', 'a', 'a'.repeat(253), '0x1'])
      for (const [, spec] of fields) assert.equal(crossNamespaceRef(b(spec(name))), undefined, name);
  });
});

describe('the CRDs refuse a name that is not an object name at the API server, as the controllers do', () => {
  it('every name field of both specs carries the object-name pattern and length', async () => {
    const { checkpointBackupCrd } = await import('./crd.js');
    const { checkpointRestoreCrd } = await import('./restore-crd.js');
    type S = { properties?: Record<string, S>; pattern?: string; maxLength?: number };
    const spec = (crd: unknown) =>
      (crd as { spec: { versions: { schema: { openAPIV3Schema: S } }[] } }).spec.versions[0]!.schema
        .openAPIV3Schema.properties!.spec!;
    const at = (s: S, path: string) => path.split('.').reduce((x, k) => x.properties![k]!, s);
    const backup = spec(checkpointBackupCrd());
    const restore = spec(checkpointRestoreCrd());
    for (const [s, path] of [
      [backup, 'podRef.name'],
      [backup, 'resourceRef.name'],
      [backup, 'registry.secretRef.name'],
      [backup, 'encryption.publicKeysRef.name'],
      [restore, 'backupRef.name'],
      [restore, 'podName'],
      [restore, 'targetNode'],
    ] as const) {
      const f = at(s, path);
      assert.equal(f.maxLength, 253, path);
      const re = new RegExp(f.pattern!);
      assert.ok(re.test('db-0.v2') && !re.test('../../other/secrets/x') && !re.test('..'), path);
    }
  });
});

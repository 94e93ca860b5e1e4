import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HUB_WEBHOOK_POLICY, hubWebhookPolicy } from '@stateful-migration/api';
import { secretReaderBinding, secretReaderRole } from '@stateful-migration/hub';
import { parseAllDocuments } from 'yaml';
import {
  DOCS_FILE,
  HUB_IN_MEMBERS,
  HUB_SA,
  PERMISSIONS,
  ROLES,
  roleKey,
  tableGrants,
  withPermissions,
  type Grant,
  type RoleRef,
  type Subject,
} from './rbac.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Doc {
  kind?: string;
  metadata?: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}
const RBAC_KINDS = ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'];

function yamlFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(join(root, p)).isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(n) ? [p] : [];
  });
}

/** Every RBAC object shipped in deploy/ and karmada/, with the file it is in. */
function shipped(): (Doc & { file: string })[] {
  return ['deploy', 'karmada'].flatMap(yamlFiles).flatMap((file) =>
    parseAllDocuments(readFileSync(join(root, file), 'utf8'))
      .map((d) => d.toJS() as Doc | null)
      .filter((d): d is Doc => !!d && RBAC_KINDS.includes(d.kind ?? ''))
      .map((d) => ({ ...d, file })),
  );
}

function grantsOf(role: Doc): Grant[] {
  const key = roleKey({ kind: role.kind!, ...role.metadata! });
  return (role.rules ?? []).flatMap((r) => {
    assert.equal(r.nonResourceURLs, undefined, `${key}: nonResourceURLs`);
    return (r.apiGroups ?? []).flatMap((apiGroup) =>
      (r.resources ?? []).flatMap((resource) =>
        (r.verbs ?? []).map((verb) => ({
          role: key,
          apiGroup,
          resource,
          verb,
          resourceNames: (r.resourceNames ?? []).join(','),
        })),
      ),
    );
  });
}

const show = (g: Grant) =>
  `${g.role}: ${g.verb} ${g.apiGroup || 'core'}/${g.resource}${g.resourceNames ? ` [${g.resourceNames}]` : ''}`;
const set = (gs: Grant[]) => new Set(gs.map(show));
const minus = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).sort();
const sameSubject = (a: { kind: string; name: string; namespace?: string | undefined }, b: Subject) =>
  a.kind === b.kind && a.name === b.name && (a.namespace ?? '') === (b.namespace ?? '');

/** The Role the hub makes at run time, for one secret, as the table writes it (placeholders). */
const RUNTIME = { name: 'creds', namespace: 'shop' };
const placeholders = (s: string) =>
  s.replaceAll(RUNTIME.namespace, '<tenant>').replaceAll(RUNTIME.name, '<secret>');
/** The public keys objects' reader Roles (issue 14): one per kind, together the table's agentPublicKeys rows. */
const KEYS = (['ConfigMap', 'Secret'] as const).map((kind) => ({
  name: 'team-keys',
  namespace: 'shop',
  kind,
  purpose: 'keys' as const,
}));
const keysPlaceholders = (s: string) =>
  s
    .replaceAll('shop', '<tenant>')
    .replaceAll('team-keys', '<name>')
    .replace(/public-keys-(configmap|secret)-/, 'public-keys-<kind>-');

describe('RBAC: the shipped rules are exactly what packages/cli/src/rbac.ts says the code needs', () => {
  const docs = shipped();
  const roles = docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role');
  const shippedRoles = Object.values(ROLES).filter((r): r is RoleRef & { file: string } => !!r.file);

  it('no rule in deploy/ or karmada/ that the table does not list, and none missing', () => {
    const want = set(tableGrants().filter((g) => !g.role.includes('<')));
    const have = set(roles.flatMap(grantsOf));
    assert.deepEqual(
      { extra: minus(have, want), missing: minus(want, have) },
      { extra: [], missing: [] },
      'change packages/cli/src/rbac.ts with the manifest (and say which code needs the right), then `pnpm gen`',
    );
  });

  it('each Role and ClusterRole is in the file the table names, and no other exists', () => {
    assert.deepEqual(
      roles.map((r) => `${r.file}: ${roleKey({ kind: r.kind!, ...r.metadata! })}`).sort(),
      shippedRoles.map((r) => `${r.file}: ${roleKey(r)}`).sort(),
    );
  });

  it('each is bound exactly once, to exactly the identity the table says, and nothing else is bound', () => {
    const bindings = docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding');
    for (const r of shippedRoles) {
      const mine = bindings.filter(
        (b) =>
          b.roleRef?.kind === r.kind &&
          b.roleRef.name === r.name &&
          (b.kind === 'ClusterRoleBinding' || b.metadata?.namespace === r.namespace),
      );
      assert.equal(mine.length, 1, `${roleKey(r)}: ${mine.length} bindings`);
      const subjects = mine[0]!.subjects ?? [];
      assert.equal(subjects.length, 1, `${roleKey(r)} bound to ${JSON.stringify(subjects)}`);
      assert.ok(sameSubject(subjects[0]!, r.subject), `${roleKey(r)} bound to ${JSON.stringify(subjects)}`);
      if (r.kind === 'Role') assert.equal(mine[0]!.kind, 'RoleBinding', roleKey(r));
    }
    assert.equal(bindings.length, shippedRoles.length, 'a binding of something the table does not list');
  });

  it('the Role the hub makes at run time for a registry secret grants what the table says, to the agents', () => {
    const role = secretReaderRole(RUNTIME);
    const got = grantsOf(role as Doc).map((g) => ({
      ...g,
      role: placeholders(g.role),
      resourceNames: placeholders(g.resourceNames),
    }));
    const keys = KEYS.flatMap((k) =>
      grantsOf(secretReaderRole(k) as Doc).map((g) => ({
        ...g,
        role: keysPlaceholders(g.role),
        resourceNames: keysPlaceholders(g.resourceNames),
      })),
    );
    assert.deepEqual(set([...got, ...keys]), set(tableGrants().filter((g) => g.role.includes('<'))));
    for (const k of KEYS)
      assert.ok(sameSubject(secretReaderBinding(k).subjects[0]!, ROLES.agentPublicKeys.subject));
    const binding = secretReaderBinding(RUNTIME);
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'Role',
      name: role.metadata.name,
    });
    assert.equal(binding.subjects.length, 1);
    assert.ok(sameSubject(binding.subjects[0]!, ROLES.agentTenantSecret.subject));
  });

  it('the hub holds every right of that Role in every namespace (RBAC escalation check), without escalate or bind', () => {
    const hubRoles = new Set(shippedRoles.filter((r) => sameSubject(r.subject, HUB_SA)).map(roleKey));
    const hubWide = roles
      .filter((r) => r.kind === 'ClusterRole')
      .flatMap(grantsOf)
      .filter((g) => hubRoles.has(g.role) && g.resourceNames === '');
    for (const g of [RUNTIME, ...KEYS].flatMap((r) => grantsOf(secretReaderRole(r) as Doc)))
      assert.ok(
        hubWide.some((h) => h.apiGroup === g.apiGroup && h.resource === g.resource && h.verb === g.verb),
        `the hub could not create ${show(g)}`,
      );
  });

  it('no wildcard, and no right that grants others rights (escalate, bind, impersonate)', () => {
    for (const g of [...roles.flatMap(grantsOf), ...tableGrants()]) {
      assert.ok(![g.apiGroup, g.resource, g.verb].includes('*'), show(g));
      assert.ok(!['escalate', 'bind', 'impersonate'].includes(g.verb), show(g));
    }
  });

  it('validating webhook configurations in the members: get, update and delete only stateful-migration.keep-state; create, unnamable, alone unnamed', () => {
    const vwc = tableGrants().filter((g) => g.resource === 'validatingwebhookconfigurations');
    assert.deepEqual(vwc.map((g) => `${g.verb} [${g.resourceNames}]`).sort(), [
      'create []',
      'delete [stateful-migration.keep-state]',
      'get [stateful-migration.keep-state]',
      'update [stateful-migration.keep-state]',
    ]);
  });

  it('every "needed by" names code that is there', () => {
    const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const p of PERMISSIONS)
      for (const [file, names] of Object.entries(p.code)) {
        assert.ok(existsSync(join(root, file)), `${file} (${p.role} ${p.resources.join(',')})`);
        const text = readFileSync(join(root, file), 'utf8');
        for (const n of names)
          assert.match(text, new RegExp(`(^|[^\\w#])${escape(n)}(?![\\w])`), `${file} has no ${n}`);
      }
  });

  it(`${DOCS_FILE} lists every permission of the table (regenerate with \`pnpm gen\`)`, () => {
    const doc = readFileSync(join(root, DOCS_FILE), 'utf8');
    assert.equal(doc, withPermissions(doc));
  });
});

describe("the members' policy on the hub's webhook configurations", () => {
  it('binds the identity the members see the hub as, and goes to every member with its RBAC', () => {
    const [policy] = hubWebhookPolicy('""') as { spec: { matchConditions: { expression: string }[] } }[];
    assert.equal(
      policy!.spec.matchConditions[0]!.expression,
      `request.userInfo.username == '${HUB_IN_MEMBERS.name}'`,
    );
    const shipped = readFileSync(join(root, 'karmada/restore-member-rbac.yaml'), 'utf8');
    for (const kind of ['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'])
      assert.match(
        shipped,
        new RegExp(`kind: ${kind}\\n\\s+name: ${HUB_WEBHOOK_POLICY.replaceAll('.', '\\.')}`),
      );
  });
});

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RESTORE_MODES, RESTORE_PHASES, isRestoreFinished } from './checkpoint-restore.js';
import { checkpointRestoreCrd } from './restore-crd.js';

type Node = { properties?: Record<string, Node>; items?: Node; enum?: string[] };
const version = () =>
  (
    checkpointRestoreCrd().spec as {
      versions: {
        additionalPrinterColumns: { name: string; jsonPath: string }[];
        schema: { openAPIV3Schema: Node };
      }[];
    }
  ).versions[0]!;

const at = (root: Node, path: string): Node | undefined =>
  path
    .split('.')
    .filter(Boolean)
    .reduce<Node | undefined>(
      (n, k) => (k === 'metadata' && n?.properties?.[k] ? {} : n?.properties?.[k]),
      root,
    );

it('every printer column points at a field of the schema', () => {
  const v = version();
  for (const c of v.additionalPrinterColumns)
    if (!c.jsonPath.startsWith('.metadata.'))
      assert.ok(at(v.schema.openAPIV3Schema, c.jsonPath), `${c.name}: ${c.jsonPath}`);
});

it('the schema enumerates exactly the phases and modes of the types', () => {
  const root = version().schema.openAPIV3Schema;
  assert.deepEqual(at(root, '.status.phase')?.enum, [...RESTORE_PHASES]);
  assert.deepEqual(at(root, '.spec.mode')?.enum, [...RESTORE_MODES]);
});

it('a restore is finished when Failed, when Restored in Restore mode, and only when SourceStopped (or RolledBack) in Migrate mode', () => {
  const finished = (mode: 'Restore' | 'Migrate') => RESTORE_PHASES.filter((p) => isRestoreFinished(p, mode));
  assert.deepEqual(finished('Restore'), ['Restored', 'SourceStopped', 'RolledBack', 'Failed']);
  assert.deepEqual(finished('Migrate'), ['SourceStopped', 'RolledBack', 'Failed']);
  assert.equal(isRestoreFinished(undefined, 'Restore'), false);
});

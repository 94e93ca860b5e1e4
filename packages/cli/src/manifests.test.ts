import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { admissionPolicyFiles, crdYaml, generatedFiles, hubOnlyFiles } from './manifests.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

it('the committed CRD manifests match packages/api (regenerate with `pnpm gen`)', () => {
  for (const f of generatedFiles) assert.equal(readFileSync(join(root, f), 'utf8'), crdYaml(), f);
});

it('the committed hub-only manifests match packages/api (regenerate with `pnpm gen`)', () => {
  for (const [f, yaml] of Object.entries(hubOnlyFiles))
    assert.equal(readFileSync(join(root, f), 'utf8'), yaml(), f);
});

it('the committed admission policies match packages/api (regenerate with `pnpm gen`)', () => {
  for (const [f, yaml] of Object.entries(admissionPolicyFiles))
    assert.equal(readFileSync(join(root, f), 'utf8'), yaml(), f);
});

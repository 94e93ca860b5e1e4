import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inputHash, isImageInput } from './agent-image.js';
import { requestedChartPods } from './chart-pods.js';

describe("the agent image's inputs", () => {
  it('are the workspace packages, the root package and TypeScript files, the Containerfile, checkpoint-store and its build script; not e2e, docs or builds', () => {
    for (const p of [
      'deploy/Containerfile',
      '.containerignore',
      'package.json',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'tsconfig.base.json',
      'packages/cli/package.json',
      'packages/agent/src/agent.ts',
      'go/checkpoint-store/main.go',
      'go/checkpoint-store/go.sum',
      'e2e/scripts/agent-image.sh',
    ])
      assert.equal(isImageInput(p), true, p);
    for (const p of [
      'e2e/src/fed/up.ts',
      'e2e/scripts/build-binaries.sh',
      'docs/install.md',
      'packages/cli/README.md',
      'packages/cli/dist/main.js',
      'packages/kube/node_modules/x/index.js',
      'packages/cli/tsconfig.tsbuildinfo',
      'charts/stateful-migration/values.yaml',
      'deploy/daemonset.yaml',
      'examples/hub/db.yaml',
    ])
      assert.equal(isImageInput(p), false, p);
  });

  it('hash to the same value in any order, and to another when a byte, a path, the base or the version changes', () => {
    const files = [
      { path: 'a', content: Buffer.from('1') },
      { path: 'b', content: Buffer.from('2') },
    ];
    const h = inputHash(files, 'base', '0.1.0');
    assert.equal(inputHash([...files].reverse(), 'base', '0.1.0'), h);
    assert.notEqual(inputHash([files[0]!, { path: 'b', content: Buffer.from('3') }], 'base', '0.1.0'), h);
    assert.notEqual(inputHash([files[0]!, { path: 'c', content: Buffer.from('2') }], 'base', '0.1.0'), h);
    assert.notEqual(inputHash(files, 'other', '0.1.0'), h);
    assert.notEqual(inputHash(files, 'base', '0.2.0'), h);
    // A path's end and a content's start cannot trade bytes.
    assert.notEqual(
      inputHash([{ path: 'ab', content: Buffer.from('c') }], 'base', '0.1.0'),
      inputHash([{ path: 'a', content: Buffer.from('bc') }], 'base', '0.1.0'),
    );
  });
});

describe('FED_CHART_PODS', () => {
  it('names nodes of the federation, each once; empty means none', () => {
    assert.deepEqual(requestedChartPods(''), []);
    assert.deepEqual(requestedChartPods('m1-b, m1-b'), ['m1-b']);
    assert.throws(() => requestedChartPods('m1-b,m9-z'), /no node m9-z in the federation/);
  });
});

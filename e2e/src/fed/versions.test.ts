import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkpointStoreVersion, repoRoot, versions } from './paths.js';

// The federation runs the binaries build-binaries.sh builds into directories named by version: a version changed in
// one place and not the other would look for a binary that was never built. The registry's version is also named by
// packages/registry's integration test (a package does not import e2e).
const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');

describe('the Go-built binaries have one version each', () => {
  const script = read('e2e/scripts/build-binaries.sh');
  for (const [name, v] of Object.entries({
    ETCD_VERSION: versions.etcd,
    KUBE_VERSION: versions.kube,
    KARMADA_VERSION: versions.karmada,
    CHECKPOINTCTL_VERSION: versions.checkpointctl,
    HELM_VERSION: versions.helm,
    REGISTRY_VERSION: versions.registry,
  }))
    it(`${name}=${v} in build-binaries.sh, as paths.ts says`, () => {
      assert.match(script, new RegExp(`^${name}=${v.replace(/\./g, '\\.')}( |$)`, 'm'));
    });

  it("the registry integration test's version is the federation's", () => {
    assert.match(
      read('packages/registry/src/encrypted-push.int.test.ts'),
      new RegExp(`const REGISTRY_VERSION = '${versions.registry.replace(/\./g, '\\.')}'`),
    );
  });

  it("checkpoint-store's version is the hash of its sources build-binaries.sh computes", () => {
    const line = /^CHECKPOINT_STORE_VERSION=(.*)$/m.exec(script)![1]!;
    const here = join(repoRoot, 'e2e');
    const v = execFileSync('bash', ['-c', `here=${here}; echo ${line}`], { encoding: 'utf8' }).trim();
    assert.match(v, /^src-[0-9a-f]{16}$/);
    assert.equal(checkpointStoreVersion(), v);
  });
});

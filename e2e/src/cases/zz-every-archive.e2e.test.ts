// suite: alone — reads every archive the suite wrote: runs last
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { memberNodes } from '../fed/members.js';
import { nodeRuntimeDir } from '../fed/paths.js';

// Last in name order: by now the suite has checkpointed through every node's runtime. Each stand-in read every
// archive it wrote with `checkpointctl show` before handing it to the kubelet's caller (its archives.log).
it('every checkpoint archive the federation wrote during the suite passes checkpointctl show', () => {
  const verdicts = Object.values(memberNodes)
    .flat()
    .flatMap((node) => {
      const log = join(nodeRuntimeDir(node), 'archives.log');
      return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
    });
  assert.ok(verdicts.length > 0, 'the suite wrote archives');
  assert.deepEqual(
    verdicts.filter((v) => !v.startsWith('ok ')),
    [],
    `${verdicts.length} archives read`,
  );
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from './fed/paths.js';
import { markedLane, planCluster, runLanes, type LaneEnd } from './suite-lanes.js';

const file = (path: string, marker?: string) => ({
  path,
  source: `${marker ? `${marker}\n` : ''}import assert from 'node:assert/strict';\n`,
});

describe('suite lanes: which cluster test files run two at a time', () => {
  it('reads the marker and its lane; a marker without a reason, misspelt or far down counts as none', () => {
    assert.equal(markedLane('// suite: shares — own namespace\nimport x;\n'), 'shares');
    assert.equal(markedLane('// suite: alone — restarts the hub\n'), 'alone');
    // Under a comment block of its own, still near the top.
    assert.equal(markedLane('/**\n * what it shows\n */\n// suite: shares — own namespace\n'), 'shares');
    for (const none of [
      '',
      '// suite: shares\n',
      '// suite: shares —\n',
      '// suite: shares - own namespace\n',
      '// suite: share — own namespace\n',
      '// suite: together — own namespace\n',
      "const s = ' // suite: shares — inside a string';\n",
      `${'\n'.repeat(40)}// suite: shares — too far down\n`,
    ])
      assert.equal(markedLane(none), undefined, JSON.stringify(none));
  });

  it('a file without a marker runs alone and is named; shares run e2e first, alone in name order, int before e2e', () => {
    const plan = planCluster([
      file('e2e/dist/cases/zz-every-archive.e2e.test.js', '// suite: alone — reads every archive'),
      file('e2e/dist/cases/b.e2e.test.js', '// suite: shares — own namespace'),
      file('e2e/dist/cases/new.e2e.test.js'),
      file('packages/kube/dist/a.int.test.js', '// suite: shares — own namespace'),
      file('e2e/dist/cases/a.e2e.test.js', '// suite: alone — restarts the hub'),
      file('e2e/dist/cases/c.int.test.js', '// suite: alone — reads a global counter'),
      file('e2e/dist/cases/a2.e2e.test.js', '// suite: shares — own namespace'),
    ]);
    assert.deepEqual(plan.shares, [
      'e2e/dist/cases/a2.e2e.test.js',
      'e2e/dist/cases/b.e2e.test.js',
      'packages/kube/dist/a.int.test.js',
    ]);
    assert.deepEqual(plan.alone, [
      'e2e/dist/cases/c.int.test.js',
      'e2e/dist/cases/a.e2e.test.js',
      'e2e/dist/cases/new.e2e.test.js',
      'e2e/dist/cases/zz-every-archive.e2e.test.js',
    ]);
    assert.deepEqual(plan.unmarked, ['e2e/dist/cases/new.e2e.test.js']);
  });

  it("the repository's cases: zz-every-archive, which checks every archive the suite wrote, runs alone and last", () => {
    const dir = join(repoRoot, 'e2e/src/cases');
    const plan = planCluster(
      readdirSync(dir)
        .filter((f) => /\.(int|e2e)\.test\.ts$/.test(f))
        .map((f) => ({ path: f, source: readFileSync(join(dir, f), 'utf8') })),
    );
    assert.equal(plan.alone.at(-1), 'zz-every-archive.e2e.test.ts');
    assert.ok(plan.shares.length > 0, 'some cases share');
  });
});

describe('runLanes: the lanes one after the other', () => {
  const lanes = ['shares', 'alone'];
  const runner = (ends: Record<string, LaneEnd>, onRun?: (lane: string) => void) => {
    const ran: string[] = [];
    return {
      ran,
      run: (lane: string) => {
        ran.push(lane);
        onRun?.(lane);
        return Promise.resolve(ends[lane] ?? { status: 0, signal: null });
      },
    };
  };

  it('runs every lane and passes when each passes', async () => {
    const r = runner({});
    assert.equal(await runLanes(lanes, r.run, () => false), 0);
    assert.deepEqual(r.ran, lanes);
  });

  it('a failing lane fails the run, and the next lane still runs (its results are not hidden)', async () => {
    const r = runner({ shares: { status: 1, signal: null } });
    assert.equal(await runLanes(lanes, r.run, () => false), 1);
    assert.deepEqual(r.ran, lanes);
    const late = runner({ alone: { status: 3, signal: null } });
    assert.equal(await runLanes(lanes, late.run, () => false), 3);
  });

  it('an interrupted run (^C, CI time limit) does not start the next lane, and fails', async () => {
    let interrupted = false;
    // node --test cancels its tests on the signal and exits with a status of its own: 0 if nothing had failed yet.
    const r = runner({ shares: { status: 0, signal: null } }, () => (interrupted = true));
    assert.equal(await runLanes(lanes, r.run, () => interrupted), 1);
    assert.deepEqual(r.ran, ['shares']);
  });

  it('a lane killed by a signal does not start the next lane, and fails', async () => {
    const r = runner({ shares: { status: null, signal: 'SIGKILL' } });
    assert.equal(await runLanes(lanes, r.run, () => false), 1);
    assert.deepEqual(r.ran, ['shares']);
  });
});

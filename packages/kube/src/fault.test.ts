import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CRASH_EXIT_CODE, crashInjection } from './fault.js';

class Exited extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
const exit = (code: number): never => {
  throw new Exited(code);
};
const log = {
  warnings: [] as string[],
  warn(m: string) {
    this.warnings.push(m);
  },
};
const dir = mkdtempSync(join(tmpdir(), 'fault-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('crashInjection', () => {
  it('without STATEFUL_MIGRATION_CRASH_AFTER does nothing, marker or not', () => {
    const marker = join(dir, 'unused');
    writeFileSync(marker, 'x');
    assert.deepEqual(crashInjection(log, { STATEFUL_MIGRATION_CRASH_MARKER: marker }, exit), {});
  });

  it('exits 99 after the named phase only', () => {
    const hook = crashInjection(log, { STATEFUL_MIGRATION_CRASH_AFTER: 'RestoreSubmitted' }, exit);
    hook.afterPhaseWritten!('Checkpointing');
    assert.throws(() => hook.afterPhaseWritten!('RestoreSubmitted'), { code: CRASH_EXIT_CODE });
  });

  it('with a marker: the crash writes it, and a process started again finds it and exits before doing anything', () => {
    const marker = join(dir, 'crashed');
    const env = { STATEFUL_MIGRATION_CRASH_AFTER: 'Restored', STATEFUL_MIGRATION_CRASH_MARKER: marker };
    const first = crashInjection(log, env, exit);
    first.afterPhaseWritten!('RestoreInProgress');
    assert.ok(!existsSync(marker), 'no marker before the crash');
    assert.throws(() => first.afterPhaseWritten!('Restored'), { code: CRASH_EXIT_CODE });
    assert.equal(readFileSync(marker, 'utf8'), 'Restored\n');
    // The kubelet starts the container again with the same environment: it stays down.
    assert.throws(() => crashInjection(log, env, exit), { code: CRASH_EXIT_CODE });
    assert.match(log.warnings.at(-1)!, /exiting at start/);
    // A new pod has a new emptyDir: no marker, the injection as at first.
    rmSync(marker);
    assert.ok(crashInjection(log, env, exit).afterPhaseWritten);
  });

  it('exits 99 at the crash point even when the marker cannot be written, so the test sees the crash it asked for', () => {
    const marker = join(dir, 'no-such-dir', 'crashed');
    const hook = crashInjection(
      log,
      { STATEFUL_MIGRATION_CRASH_AFTER: 'Restored', STATEFUL_MIGRATION_CRASH_MARKER: marker },
      exit,
    );
    assert.throws(() => hook.afterPhaseWritten!('Restored'), { code: CRASH_EXIT_CODE });
    assert.match(log.warnings.at(-1)!, /could not write/);
  });
});

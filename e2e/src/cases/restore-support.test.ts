import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkpointEnd, countLines, notFromCheckpoint } from './restore-support.js';

// A source that printed count n at second n (10:00:0n), checkpointed by a run that began at 10:00:05.5: the freeze
// came after 5 and before or after 6, so its copy goes on at 6 or later, never from a count printed before 10:00:05.5.
// `run` ended after the source's last line (12), so any later count may be the freeze's; `short` ended at 10:00:07.5,
// so its freeze came before 8 was printed and its copy goes on at 8 at the latest.
const at = (s: number) => `2026-12-02T10:00:${String(s).padStart(2, '0')}.000000000Z`;
const log = Array.from({ length: 12 }, (_, i) => `${at(i + 1)} count ${i + 1}\n`).join('');
const source = countLines(log);
const runStart = '2026-12-02T10:00:05.500Z';
const run = { start: runStart, end: '2026-12-02T10:00:12.500Z' };
const short = { start: runStart, end: '2026-12-02T10:00:07.500Z' };

describe('countLines', () => {
  it('reads the counts and their times of kubectl logs --timestamps, other lines left out', () => {
    assert.deepEqual(
      countLines(`${at(1)} count 1 mark=started 7\n${at(2)} holding 4 MiB\n${at(3)} count 2`),
      [
        { n: 1, at: Date.parse(at(1)) },
        { n: 2, at: Date.parse(at(3)) },
      ],
    );
  });
});

describe('notFromCheckpoint', () => {
  it('a copy going on from the last count before the freeze, however long the source ran on after it', () => {
    assert.equal(notFromCheckpoint(7, source, run), undefined, 'frozen after 6');
    assert.equal(notFromCheckpoint(6, source, run), undefined, 'frozen after 5, right at the start');
    assert.equal(notFromCheckpoint(12, source, run), undefined, 'frozen after 11');
    assert.equal(notFromCheckpoint(13, source, run), undefined, 'frozen after its last line');
  });

  it('a fresh start, an older checkpoint, a state the source never had, or no checkpoint time fail', () => {
    assert.match(notFromCheckpoint(1, source, run)!, /never printed 0 \(it printed 1\.\.12\)/);
    assert.match(
      notFromCheckpoint(5, source, run)!,
      /printed 5 at 2026-12-02T10:00:05.000Z, before the checkpoint began at 2026-12-02T10:00:05.500Z/,
    );
    assert.match(notFromCheckpoint(2, source, run)!, /older checkpoint/);
    assert.match(notFromCheckpoint(14, source, run)!, /never printed 13/);
    assert.match(notFromCheckpoint(7, [], run)!, /it printed nothing/);
    assert.equal(
      notFromCheckpoint(7, source, { start: undefined, end: run.end }),
      'no checkpoint time recorded',
    );
  });

  it('a copy of a later checkpoint fails: its state was printed after the run ended', () => {
    assert.equal(notFromCheckpoint(6, source, short), undefined, 'frozen after 5');
    assert.equal(
      notFromCheckpoint(8, source, short),
      undefined,
      'frozen after 7, the last line before the end',
    );
    assert.match(
      notFromCheckpoint(11, source, short)!,
      /printed 10 at 2026-12-02T10:00:10.000Z, after the checkpoint ended at 2026-12-02T10:00:07.500Z/,
    );
    assert.match(notFromCheckpoint(9, source, short)!, /later checkpoint/);
    assert.equal(
      notFromCheckpoint(7, source, { start: runStart, end: undefined }),
      'no checkpoint end recorded',
    );
  });
});

describe('checkpointEnd', () => {
  it("the newest image's buildTime, whatever the order; none without images", () => {
    assert.equal(checkpointEnd([{ buildTime: at(9) }, { buildTime: at(11) }, { buildTime: at(10) }]), at(11));
    assert.equal(checkpointEnd([]), undefined);
    assert.equal(checkpointEnd(undefined), undefined);
  });
});

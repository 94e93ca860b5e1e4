import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.js';
import type { Clock } from './clock.js';
import { TerminalError } from './errors.js';
import { WorkQueue } from './workqueue.js';

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements Clock {
  t = 0;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  };
  advance(ms: number): void {
    this.t += ms;
    for (const tm of this.timers.filter((x) => x.live && x.at <= this.t)) {
      tm.live = false;
      tm.fn();
    }
  }
  pending(): number[] {
    return this.timers.filter((x) => x.live).map((x) => x.at - this.t);
  }
}

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** Starts the queue with a reconcile that only records each key, and waits until it is idle. */
async function runAll(q: WorkQueue<string>): Promise<string[]> {
  const runs: string[] = [];
  q.start((k) => {
    runs.push(k);
    return Promise.resolve(undefined);
  });
  await q.idle();
  return runs;
}

describe('WorkQueue', () => {
  it('folds repeated adds of a waiting key into one run', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    const runs: string[] = [];
    const gate = deferred();
    q.add('a');
    q.add('b');
    q.add('b');
    q.add('b');
    q.start(async (k) => {
      if (k === 'a') await gate.promise;
      runs.push(k);
      return undefined;
    });
    q.add('b');
    gate.resolve();
    await q.idle();
    assert.deepEqual(runs, ['a', 'b']);
  });

  it('never runs one key twice at once, and runs it again after an add during its run', async () => {
    const q = new WorkQueue<string>({ workers: 4 });
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const gate = deferred();
    q.start(async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      runs++;
      if (runs === 1) await gate.promise;
      concurrent--;
      return undefined;
    });
    q.add('k');
    await new Promise((r) => setImmediate(r));
    q.add('k');
    q.add('k');
    assert.equal(q.depth(), 0, 'the re-added key waits for the running one instead of queueing beside it');
    gate.resolve();
    await q.idle();
    assert.equal(maxConcurrent, 1);
    assert.equal(runs, 2);
  });

  it('runs different keys in parallel up to the worker count', async () => {
    const q = new WorkQueue<number>({ workers: 3 });
    let concurrent = 0;
    let maxConcurrent = 0;
    q.start(async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 5));
      concurrent--;
      return undefined;
    });
    for (let i = 0; i < 10; i++) q.add(i);
    await q.idle();
    assert.equal(maxConcurrent, 3);
  });

  it('backs off per key exponentially after errors and resets after a success', async () => {
    const clock = new FakeClock();
    const errors: (number | undefined)[] = [];
    const q = new WorkQueue<string>({
      clock,
      backoff: new Backoff(100, 1000),
      onError: (_k, _e, retry) => errors.push(retry),
    });
    let fail = 4;
    q.start(() => (fail-- > 0 ? Promise.reject(new Error('boom')) : Promise.resolve(undefined)));
    q.add('x');
    for (const wait of [100, 200, 400, 800]) {
      await q.idle();
      assert.deepEqual(clock.pending(), [wait]);
      clock.advance(wait);
    }
    await q.idle();
    assert.deepEqual(errors, [100, 200, 400, 800]);
    assert.deepEqual(clock.pending(), [], 'no retry after success');
  });

  it('waits longer than a Node timer can (2^31-1 ms) in steps, never at once', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    const runs: string[] = [];
    q.start((k) => (runs.push(k), Promise.resolve(undefined)));
    const yearMs = 365 * 24 * 3600_000;
    q.addAfter('cron', yearMs);
    assert.ok(clock.pending().every((ms) => ms <= 2 ** 31 - 1));
    clock.advance(2 ** 31 - 1);
    await q.idle();
    assert.deepEqual(runs, [], 'not yet');
    clock.advance(yearMs - (2 ** 31 - 1));
    await q.idle();
    assert.deepEqual(runs, ['cron']);
  });

  it('keeps separate backoff per key', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock, backoff: new Backoff(100, 1000) });
    q.start((k) => (k === 'bad' ? Promise.reject(new Error('x')) : Promise.resolve(undefined)));
    q.add('bad');
    await q.idle();
    clock.advance(100);
    await q.idle();
    q.add('good');
    await q.idle();
    assert.deepEqual(clock.pending(), [200]);
  });

  it('does not retry terminal errors', async () => {
    const clock = new FakeClock();
    const seen: unknown[] = [];
    const q = new WorkQueue<string>({
      clock,
      onError: (_k, e, retry) => seen.push([e instanceof TerminalError, retry]),
    });
    q.start(() => Promise.reject(new TerminalError('InvalidSpec', 'bad cron')));
    q.add('x');
    await q.idle();
    assert.deepEqual(seen, [[true, undefined]]);
    assert.deepEqual(clock.pending(), []);
  });

  it('requeues after the delay a reconcile asks for, keeping the earliest of two delays', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    let runs = 0;
    q.start(() => {
      runs++;
      return Promise.resolve(runs === 1 ? { requeueAfterMs: 5000 } : undefined);
    });
    q.add('x');
    await q.idle();
    q.addAfter('x', 9000);
    assert.deepEqual(clock.pending(), [5000]);
    q.addAfter('x', 1000);
    assert.deepEqual(clock.pending(), [1000]);
    clock.advance(1000);
    await q.idle();
    assert.equal(runs, 2);
  });

  it('runs higher priorities first, each priority in the order its keys came', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    for (const [k, p] of [
      ['s1', 0],
      ['new1', 1],
      ['s2', 0],
      ['new2', 1],
      ['urgent', 5],
      ['s3', 0],
    ] as const)
      q.add(k, p);
    assert.equal(q.depth(), 6);
    const runs = await runAll(q);
    assert.deepEqual(runs, ['urgent', 'new1', 'new2', 's1', 's2', 's3']);
    assert.equal(q.depth(), 0);
  });

  it('keeps reserved workers for keys of a high priority: they run while every other worker is busy', async () => {
    const q = new WorkQueue<string>({ workers: 1, reserved: { priority: 2, workers: 1 } });
    const gates = new Map([
      ['slow', deferred()],
      ['answer1', deferred()],
    ]);
    const started: string[] = [];
    q.start(async (k) => {
      started.push(k);
      await gates.get(k)?.promise;
      return undefined;
    });
    q.add('slow'); // takes the one worker
    q.add('placing', 1); // waits: not high enough for the reserved worker
    q.add('answer1', 2); // runs at once, on the reserved worker
    q.add('answer2', 2); // waits: the reserved worker is busy too
    await nextTurn();
    assert.deepEqual(started, ['slow', 'answer1']);
    assert.equal(q.inFlight(), 2);
    assert.equal(q.depth(), 2);
    gates.get('answer1')!.resolve(); // the reserved worker takes the next answer, not the placement
    await nextTurn();
    assert.deepEqual(started, ['slow', 'answer1', 'answer2']);
    gates.get('slow')!.resolve();
    await q.idle();
    assert.deepEqual(started, ['slow', 'answer1', 'answer2', 'placing']);
  });

  it('a high-priority key takes a free ordinary worker first, leaving the reserved one to the next', async () => {
    const q = new WorkQueue<string>({ workers: 1, reserved: { priority: 2, workers: 1 } });
    const gate = deferred();
    const started: string[] = [];
    q.start(async (k) => {
      started.push(k);
      await gate.promise;
      return undefined;
    });
    q.add('answer', 2);
    q.add('low');
    await nextTurn();
    // Had the answer taken the reserved worker, low would run on the ordinary one.
    assert.deepEqual(started, ['answer']);
    assert.equal(q.depth(), 1);
    gate.resolve();
    await q.idle();
    assert.deepEqual(started, ['answer', 'low']);
  });

  it('ordinary keys never use the reserved workers; high-priority ones use every worker', async () => {
    const q = new WorkQueue<string>({ workers: 2, reserved: { priority: 2, workers: 1 } });
    let concurrent = 0;
    let most = 0;
    q.start(async () => {
      most = Math.max(most, ++concurrent);
      await new Promise((r) => setTimeout(r, 5));
      concurrent--;
      return undefined;
    });
    for (let i = 0; i < 6; i++) q.add(`low${i}`);
    await q.idle();
    assert.equal(most, 2, 'ordinary keys never use the reserved worker');
    for (let i = 0; i < 6; i++) q.add(`answer${i}`, 2);
    await q.idle();
    assert.equal(most, 3, 'answers use every worker');
  });

  it('moves a waiting key up when it is added again with a higher priority, never down, and runs it once', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    q.add('a');
    q.add('b');
    q.add('c', 1);
    q.add('b', 2); // up: ahead of everything
    q.add('c', 0); // lower: c keeps its priority 1
    q.add('a', 0); // the same: a keeps its place
    assert.equal(q.depth(), 3);
    const runs = await runAll(q);
    assert.deepEqual(runs, ['b', 'c', 'a']);
  });

  it('lines up a key added during its run at the priority of that add, after its run', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    const gate = deferred();
    const runs: string[] = [];
    q.add('x');
    q.add('y');
    q.add('z');
    q.start(async (k) => {
      if (k === 'x' && !runs.includes('x')) {
        q.add('x', 1); // during its own run: runs again, ahead of y and z
        await gate.promise;
      }
      runs.push(k);
      return undefined;
    });
    assert.equal(q.inFlight(), 1);
    assert.equal(q.depth(), 2, 'x, running, is not waiting');
    gate.resolve();
    await q.idle();
    assert.deepEqual(runs, ['x', 'x', 'y', 'z']);
  });

  it('tells how long each key waited since its first add, and the priority it runs at', async () => {
    const clock = new FakeClock();
    const started: [string, number, number][] = [];
    const q = new WorkQueue<string>({
      workers: 1,
      clock,
      onStart: (k, waited, p) => started.push([k, waited, p]),
    });
    q.add('a');
    clock.advance(30);
    q.add('b');
    clock.advance(20);
    q.add('a', 1); // moved up: still waiting since its first add
    q.add('b'); // folded: its wait is from its first add
    clock.advance(50);
    await runAll(q);
    assert.deepEqual(started, [
      ['a', 100, 1],
      ['b', 70, 0],
    ]);
    // A key added again after it ran waits from that new add.
    clock.advance(1000);
    q.add('a');
    clock.advance(5);
    await q.idle();
    assert.deepEqual(started.at(-1), ['a', 0, 0]);
  });

  it('a throwing onStart loses no key', async () => {
    let told = 0;
    const q = new WorkQueue<string>({
      workers: 1,
      onStart: () => {
        if (told++ === 0) throw new Error('metric');
      },
    });
    q.add('a');
    q.add('b');
    assert.deepEqual(await runAll(q), ['a', 'b']);
  });

  it('a stopped queue takes no key at any priority', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    q.stop();
    q.add('a', 3);
    assert.equal(q.depth(), 0);
  });

  it('keeps a waiting key in its place when it is added again at the same priority', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    q.add('a');
    q.add('b');
    q.add('a', 0);
    assert.deepEqual(await runAll(q), ['a', 'b']);
  });

  it('a key moved up keeps its place by arrival among the keys of its new priority', async () => {
    const q = new WorkQueue<string>({ workers: 1 });
    q.add('old');
    q.add('n1', 1);
    q.add('n2', 1);
    q.add('old', 1); // it came before n1 and n2
    q.add('n3', 1);
    assert.deepEqual(await runAll(q), ['old', 'n1', 'n2', 'n3']);
  });

  it('a failed key comes back at the priority it ran at, ahead of lower ones that waited', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ workers: 1, clock });
    const gate = deferred();
    const runs: string[] = [];
    q.add('s0');
    q.add('s1');
    q.add('s2');
    q.add('new', 1);
    q.start(async (k) => {
      runs.push(k);
      if (k === 'new' && runs.filter((r) => r === 'new').length === 1) throw new Error('429');
      if (k === 's0') await gate.promise;
      return undefined;
    });
    await nextTurn();
    assert.deepEqual(runs, ['new', 's0']);
    clock.advance(60_000); // past the first backoff: 'new' waits again while s0 runs
    gate.resolve();
    await q.idle();
    assert.deepEqual(runs, ['new', 's0', 'new', 's1', 's2']);
  });

  it('of two delays for one key the earlier wins, at the higher priority', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ workers: 1, clock });
    q.add('y', 1);
    q.addAfter('k', 500, 0);
    q.addAfter('k', 1000, 3);
    assert.deepEqual(clock.pending(), [500]);
    clock.advance(500);
    q.add('z', 2);
    assert.deepEqual(await runAll(q), ['k', 'z', 'y']);
  });
});

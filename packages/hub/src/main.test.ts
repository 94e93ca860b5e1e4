import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leaseQueues, stepDown } from './main.js';

/** A queue whose reconciles end at given times (ms from now). */
const queue = (endsAt: number[]) => {
  const t0 = Date.now();
  return { inFlight: () => endsAt.filter((t) => Date.now() - t0 < t).length };
};

// A step down that never returns fails here at the timeout instead of hanging the suite.
describe('stepDown (SIGTERM)', { timeout: 60_000 }, () => {
  it('frees the Lease only once the reconciles of every queue, restore included, have ended', async () => {
    const order: string[] = [];
    const t0 = Date.now();
    let releasedAt = 0;
    await stepDown({
      stop: () => order.push('stop'),
      queues: { backups: queue([50]), secrets: queue([20]), restore: queue([150, 300]) },
      release: async () => {
        releasedAt = Date.now() - t0;
        order.push('release');
      },
      pollMs: 10,
    });
    assert.deepEqual(order, ['stop', 'release']);
    assert.ok(releasedAt >= 300, `released after ${releasedAt} ms, while a restore reconcile still ran`);
  });

  it('frees the Lease after the timeout even if a reconcile hangs (the Lease would expire anyway)', async () => {
    const t0 = Date.now();
    let released = false;
    await stepDown({
      stop: () => undefined,
      queues: { backups: queue([]), secrets: queue([]), restore: { inFlight: () => 1 } },
      release: async () => {
        released = true;
      },
      timeoutMs: 200,
      pollMs: 10,
    });
    assert.equal(released, true);
    // The reconcile never ends: without the timeout this would never return.
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('frees at once when nothing runs', async () => {
    const t0 = Date.now();
    await stepDown({
      stop: () => undefined,
      queues: { backups: queue([]), secrets: queue([]), restore: queue([]) },
      release: () => Promise.resolve(),
      // A step down that polled even once, or waited for its timeout, would take a minute.
      timeoutMs: 60_000,
      pollMs: 60_000,
    });
    assert.ok(Date.now() - t0 < 10_000);
  });
});

describe('leaseQueues: what stepDown waits for', () => {
  const q = (n: number) => ({ inFlight: () => n });
  it("every controller's queue that acts under the Lease, the keep-state webhook configurations' included", () => {
    const drain = q(1);
    const queues = leaseQueues({ backups: q(0), secrets: q(0), restore: q(0), keepStateWebhooks: drain });
    assert.deepEqual(Object.keys(queues).sort(), ['backups', 'keepStateWebhooks', 'restore', 'secrets']);
    assert.equal(queues.keepStateWebhooks, drain);
  });

  it('without the admission server (no keep-state webhooks): the other three', () => {
    assert.deepEqual(Object.keys(leaseQueues({ backups: q(0), secrets: q(0), restore: q(0) })).sort(), [
      'backups',
      'restore',
      'secrets',
    ]);
  });
});

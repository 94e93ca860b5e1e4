import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Clock } from './clock.js';
import { EventRecorder } from './events.js';
import type { Logger } from './log.js';
import { FakeApiserver, type FakeReply, type FakeRequest } from './test-support/fake-apiserver.js';
import { eventually } from './test-support/fed.js';

interface StoredEvent {
  metadata: { name: string; namespace: string; generateName?: string };
  involvedObject: { uid?: string; name?: string };
  reason: string;
  message: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

/** core/v1 Events in memory: POST (generateName), PATCH (merge), GET; expire() drops them as the event TTL does. */
function eventStore() {
  const events = new Map<string, StoredEvent>();
  let n = 0;
  const handle = async (r: FakeRequest): Promise<FakeReply> => {
    await new Promise((res) => setTimeout(res, 5)); // let concurrent emits overlap
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(r.path);
    if (!m) return { status: 404, body: { message: 'no such path' } };
    if (r.method === 'POST' && !m[2]) {
      const e = r.body as StoredEvent;
      const name = `${e.metadata.generateName ?? ''}${(++n).toString(16)}`;
      const stored = { ...e, metadata: { ...e.metadata, name } };
      events.set(name, stored);
      return { status: 201, body: stored };
    }
    const cur = m[2] ? events.get(m[2]) : undefined;
    if (!cur) return { status: 404, body: { reason: 'NotFound', message: 'events not found' } };
    if (r.method === 'PATCH') {
      const next = { ...cur, ...(r.body as Partial<StoredEvent>) };
      events.set(cur.metadata.name, next);
      return { status: 200, body: next };
    }
    return { status: 405, body: { message: 'method not allowed' } };
  };
  return { handle, events, expire: () => events.clear() };
}

const backup = (uid = 'u1') => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'web', namespace: 'shop', uid, resourceVersion: String(Math.random()) },
});

class FakeClock implements Clock {
  t = Date.parse('2026-05-01T00:00:00Z');
  now(): number {
    return this.t;
  }
  setTimeout(): { cancel(): void } {
    return { cancel: () => undefined };
  }
}

describe('EventRecorder de-duplicates as client-go does', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const setup = async (opts: { windowMs?: number; maxKeys?: number } = {}) => {
    const store = eventStore();
    const api = new FakeApiserver(store.handle);
    servers.push(api);
    await api.listen();
    const clock = new FakeClock();
    const rec = new EventRecorder(api.client(), 'test', 'host-a', undefined, { clock, ...opts });
    const posts = () => api.requests.filter((r) => r.method === 'POST').length;
    return { store, api, clock, rec, posts };
  };

  it('a repeated cause (same object, type, reason, message) is one Event whose count grows', async () => {
    const { store, clock, rec, posts } = await setup();
    for (let i = 0; i < 5; i++) {
      await rec.record(backup(), 'Warning', 'PodNotFound', 'pod shop/web-0 does not exist');
      clock.t += 60_000;
    }
    assert.equal(posts(), 1);
    const [e] = [...store.events.values()];
    assert.equal(e?.count, 5);
    assert.equal(e?.firstTimestamp, '2026-05-01T00:00:00.000Z');
    assert.equal(e?.lastTimestamp, '2026-05-01T00:04:00.000Z');
  });

  it('another message, reason, type or object is another Event', async () => {
    const { store, rec } = await setup();
    await rec.record(backup(), 'Warning', 'PodNotFound', 'a');
    await rec.record(backup(), 'Warning', 'PodNotFound', 'b');
    await rec.record(backup(), 'Warning', 'Other', 'a');
    await rec.record(backup(), 'Normal', 'PodNotFound', 'a');
    await rec.record(backup('u2'), 'Warning', 'PodNotFound', 'a');
    assert.equal(store.events.size, 5);
    assert.ok([...store.events.values()].every((e) => e.count === 1));
  });

  it('a repeat after the window is a new Event', async () => {
    const { store, clock, rec } = await setup({ windowMs: 600_000 });
    await rec.record(backup(), 'Warning', 'R', 'm');
    clock.t += 600_001;
    await rec.record(backup(), 'Warning', 'R', 'm');
    assert.equal(store.events.size, 2);
  });

  it('an Event the apiserver no longer has (TTL) is created again', async () => {
    const { store, rec, posts } = await setup();
    await rec.record(backup(), 'Warning', 'R', 'm');
    store.expire();
    await rec.record(backup(), 'Warning', 'R', 'm');
    assert.equal(posts(), 2);
    assert.equal([...store.events.values()][0]?.count, 1);
  });

  it('concurrent repeats create one Event', async () => {
    const { store, rec, posts } = await setup();
    await Promise.all(Array.from({ length: 6 }, () => rec.record(backup(), 'Warning', 'R', 'm')));
    assert.equal(posts(), 1);
    assert.equal([...store.events.values()][0]?.count, 6);
  });

  it('remembers a bounded number of causes, forgetting the least recent first', async () => {
    const { store, rec } = await setup({ maxKeys: 2 });
    await rec.record(backup(), 'Warning', 'R', 'a');
    await rec.record(backup(), 'Warning', 'R', 'b');
    await rec.record(backup(), 'Warning', 'R', 'a'); // a is now the most recent
    await rec.record(backup(), 'Warning', 'R', 'c'); // forgets b
    await rec.record(backup(), 'Warning', 'R', 'a');
    await rec.record(backup(), 'Warning', 'R', 'b');
    const counts = [...store.events.values()].map((e) => `${e.message}:${e.count}`).sort();
    assert.deepEqual(counts, ['a:3', 'b:1', 'b:1', 'c:1']);
  });
});

describe('EventRecorder.emit writes in the background, as client-go does', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  /** An apiserver whose answers wait until open() (or answer 500 when failing). */
  const setup = async (opts: { maxPending?: number; failing?: boolean } = {}) => {
    const store = eventStore();
    let open!: () => void;
    const opened = new Promise<void>((res) => (open = res));
    const api = new FakeApiserver(async (r) => {
      await opened;
      return opts.failing ? { status: 500, body: { message: 'etcd is gone' } } : store.handle(r);
    });
    servers.push(api);
    await api.listen();
    const warnings: string[] = [];
    // Only what the recorder calls: warn(object, message).
    const log = { warn: (_o: object, msg: string) => void warnings.push(msg) } as unknown as Pick<
      Logger,
      'warn'
    >;
    const rec = new EventRecorder(api.client(), 'test', 'host-a', log, {
      ...(opts.maxPending ? { maxPending: opts.maxPending } : {}),
    });
    return { store, api, rec, open, warnings };
  };

  it('returns before the apiserver answers; flush waits for the Event', async () => {
    const { store, rec, open } = await setup();
    rec.emit(backup(), 'Normal', 'Placed', 'sent to member1');
    assert.equal(store.events.size, 0, 'nothing is written while the apiserver has not answered');
    open();
    await rec.flush();
    assert.deepEqual(
      [...store.events.values()].map((e) => `${e.reason}: ${e.message}`),
      ['Placed: sent to member1'],
    );
  });

  it('drops Events past maxPending in flight, and says so in the log', async () => {
    const { store, rec, open, warnings } = await setup({ maxPending: 2 });
    for (const m of ['a', 'b', 'c', 'd']) rec.emit(backup(), 'Normal', 'R', m);
    open();
    await rec.flush();
    assert.deepEqual([...store.events.values()].map((e) => e.message).sort(), ['a', 'b']);
    assert.equal(warnings.filter((w) => w.startsWith('event dropped')).length, 2);
    rec.emit(backup(), 'Normal', 'R', 'e');
    await rec.flush();
    assert.equal(store.events.size, 3, 'once written, room is made for new Events');
  });

  it('writes two at a time, so a burst never takes the apiserver from status writes and Lease renewals', async () => {
    const { store, api, rec, open } = await setup();
    for (let i = 0; i < 10; i++) rec.emit(backup(`u${i}`), 'Normal', 'R', `m${i}`);
    // The apiserver holds the first two unanswered, so two are in flight together (not one at a time); the most it
    // ever held at once, counted by the apiserver over the whole burst, says no third was sent beside them. No sleep
    // decides it: how slowly the machine runs changes when the writes come, not how many overlap.
    await eventually(() => api.requests.length >= 2 || undefined, 30_000, 'two requests');
    open();
    await rec.flush();
    assert.equal(store.events.size, 10);
    assert.equal(api.maxInFlight(), 2, 'at most two Event writes in flight at once, and two did overlap');
  });

  it('flushAll waits for the Events of every recorder of the process, at most its timeout', async () => {
    const one = await setup();
    const two = await setup();
    one.rec.emit(backup(), 'Normal', 'R', 'one');
    two.rec.emit(backup(), 'Normal', 'R', 'two');
    // Returns though neither apiserver has answered: a shutdown is never held by an apiserver that does not answer.
    await EventRecorder.flushAll(300);
    assert.equal(one.store.events.size + two.store.events.size, 0);
    one.open();
    two.open();
    await EventRecorder.flushAll(60_000);
    assert.deepEqual([one.store.events.size, two.store.events.size], [1, 1]);
  });

  it('an apiserver refusing Events costs a log line, never an error to the caller', async () => {
    const { store, rec, open, warnings } = await setup({ failing: true });
    rec.emit(backup(), 'Warning', 'R', 'm');
    open();
    await rec.flush();
    assert.equal(store.events.size, 0);
    assert.deepEqual(warnings, ['could not record an event']);
  });

  it('records the object as it was when emitted, not as the caller changes it afterwards', async () => {
    const { store, rec, open } = await setup();
    const b = backup();
    rec.emit(b, 'Normal', 'R', 'm');
    b.metadata.name = 'renamed';
    open();
    await rec.flush();
    assert.deepEqual(
      [...store.events.values()].map((e) => e.involvedObject.name),
      ['web'],
    );
  });
});

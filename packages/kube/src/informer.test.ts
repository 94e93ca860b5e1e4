import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Informer, type ListWatch } from './informer.js';
import type { KubeObject } from './object.js';
import { HttpError, type WatchEvent } from './rest.js';

type Obj = KubeObject;
const obj = (name: string, rv: string): Obj => ({ metadata: { name, namespace: 'n', resourceVersion: rv } });

/** A scripted source: each list returns the next snapshot; each watch plays the next script. */
function scripted(
  lists: Obj[][],
  watches: ((emit: (e: WatchEvent<Obj>) => void, signal: AbortSignal) => Promise<void>)[],
): ListWatch<Obj> & { calls: string[] } {
  const calls: string[] = [];
  let l = 0;
  let w = 0;
  return {
    calls,
    list: () => {
      calls.push('list');
      const items = lists[Math.min(l++, lists.length - 1)]!;
      return Promise.resolve({ items, metadata: { resourceVersion: String(10 + l) } });
    },
    watch: (_rv, _t, onEvent, signal) => {
      calls.push('watch');
      const script = watches[w++];
      return script ? script(onEvent, signal) : untilAborted(signal);
    },
  };
}

const untilAborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((r) => signal.addEventListener('abort', () => r()));

const flush = (ms = 30) => new Promise((r) => setTimeout(r, ms));

describe('Informer (scripted source)', () => {
  it('re-lists after a 410 ERROR event and emits deletes for objects gone meanwhile', async () => {
    const src = scripted(
      [[obj('a', '1'), obj('b', '1')], [obj('a', '1')]],
      [(emit, signal) => (emit({ type: 'ERROR', object: { code: 410 } as Obj }), untilAborted(signal))],
    );
    const inf = new Informer<Obj>(src);
    const events: string[] = [];
    inf.on((e, o) => events.push(`${e}:${o.metadata?.name}`));
    await inf.start();
    await flush();
    assert.deepEqual(src.calls.slice(0, 3), ['list', 'watch', 'list']);
    assert.equal(inf.stats.expired, 1);
    assert.deepEqual(events, ['add:a', 'add:b', 'delete:b']);
    inf.stop();
  });

  it('re-lists after an HTTP 410 from the watch call', async () => {
    const src = scripted([[obj('a', '1')]], [() => Promise.reject(new HttpError(410, 'Gone'))]);
    const inf = new Informer<Obj>(src);
    await inf.start();
    await flush();
    assert.equal(inf.stats.expired, 1);
    assert.equal(inf.stats.errors, 0);
    inf.stop();
  });

  it('re-watches from the last resourceVersion when the server closes a watch cleanly, without re-listing', async () => {
    const src = scripted(
      [[obj('a', '1')]],
      [(emit) => (emit({ type: 'MODIFIED', object: obj('a', '2') }), Promise.resolve())],
    );
    const inf = new Informer<Obj>(src);
    await inf.start();
    await flush();
    assert.deepEqual(src.calls, ['list', 'watch', 'watch']);
    assert.equal(inf.get('n/a')?.metadata?.resourceVersion, '2');
    inf.stop();
  });

  it('never re-lists a healthy watch; its resync hands the cache to the handlers again without a request', async () => {
    const src = scripted([[obj('a', '1')]], []);
    const inf = new Informer<Obj>(src, { resyncMs: 10 });
    const events: string[] = [];
    inf.on((e, o, old) => events.push(`${e}:${o.metadata?.name}:${o === old}`));
    await inf.start();
    await flush(80);
    inf.stop();
    assert.deepEqual(src.calls, ['list', 'watch']);
    assert.ok(inf.stats.resyncs >= 1);
    assert.deepEqual(events.slice(0, 2), ['add:a:false', 'update:a:true']);
  });

  it('ignores bookmarks and unchanged resourceVersions', async () => {
    const src = scripted(
      [[obj('a', '1')]],
      [
        (emit, signal) => {
          emit({ type: 'BOOKMARK', object: obj('', '5') });
          emit({ type: 'MODIFIED', object: obj('a', '1') });
          return untilAborted(signal);
        },
      ],
    );
    const inf = new Informer<Obj>(src);
    const events: string[] = [];
    inf.on((e) => events.push(e));
    await inf.start();
    await flush();
    assert.deepEqual(events, ['add']);
    inf.stop();
  });

  it('survives a handler that throws', async () => {
    const errors: unknown[] = [];
    const src = scripted([[obj('a', '1'), obj('b', '1')]], []);
    const inf = new Informer<Obj>(src, { onError: (e) => errors.push(e) });
    const seen: string[] = [];
    inf.on((_e, o) => {
      if (o.metadata?.name === 'a') throw new Error('handler bug');
      seen.push(o.metadata?.name ?? '');
    });
    await inf.start();
    assert.deepEqual(seen, ['b']);
    assert.equal(errors.length, 1);
    inf.stop();
  });
});

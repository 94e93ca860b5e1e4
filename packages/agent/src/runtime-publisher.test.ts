import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError, type Logger, type RestClient } from '@stateful-migration/kube';
import { RuntimePublisher, type RuntimePublisherOptions } from './runtime-publisher.js';
import {
  CHECKPOINT_RESTORE_LABEL,
  CrioConfigError,
  type CheckpointRestoreSetting,
} from './runtime-setting.js';

/** A Node on a fake apiserver: GET returns its labels, PATCH merges them (or is refused). */
function fakeApi(labels: Record<string, string> = {}) {
  const calls: { method: string; path: string; body?: unknown }[] = [];
  const api = {
    labels,
    refuse: undefined as HttpError | undefined,
    refuseGet: undefined as HttpError | undefined,
    calls,
    client: {
      get: (path: string) => {
        calls.push({ method: 'GET', path });
        if (api.refuseGet) return Promise.reject(api.refuseGet);
        return Promise.resolve({ metadata: { labels: { ...api.labels } } });
      },
      request: (
        method: string,
        path: string,
        o: { body: { metadata: { labels: Record<string, string> } } },
      ) => {
        calls.push({ method, path, body: o.body });
        if (api.refuse) return Promise.reject(api.refuse);
        Object.assign(api.labels, o.body.metadata.labels);
        return Promise.resolve({});
      },
    } as unknown as RestClient,
  };
  return api;
}

function fakeLog() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: unknown, b?: string) =>
    lines.push({ level, msg: typeof a === 'string' ? a : (b ?? '') });
  return { lines, log: { info: at('info'), warn: at('warn') } as unknown as Logger };
}

const publisher = (
  api: ReturnType<typeof fakeApi>,
  read: () => Promise<CheckpointRestoreSetting | undefined>,
) => {
  const l = fakeLog();
  return {
    l,
    p: new RuntimePublisher({ client: api.client, node: 'm2-b', log: l.log, hostRoot: '/host', read }),
  };
};

describe('RuntimePublisher', () => {
  it("labels its own Node with the runtime's setting by a merge patch, and logs the change", async () => {
    const api = fakeApi({ 'kubernetes.io/hostname': 'm2-b' });
    const { p, l } = publisher(api, () => Promise.resolve('checkpoint_only'));
    assert.equal(await p.publish(), 'checkpoint_only');
    assert.deepEqual(api.calls, [
      { method: 'GET', path: '/api/v1/nodes/m2-b' },
      {
        method: 'PATCH',
        path: '/api/v1/nodes/m2-b',
        body: { metadata: { labels: { [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_only' } } },
      },
    ]);
    assert.equal(api.labels[CHECKPOINT_RESTORE_LABEL], 'checkpoint_only');
    assert.deepEqual(l.lines, [
      {
        level: 'info',
        msg: 'node m2-b: runtime checkpoint/restore setting (unpublished) -> checkpoint_only',
      },
    ]);
  });

  it('writes nothing while the label already says it; follows a change of the file, and a label changed by hand', async () => {
    const api = fakeApi({ [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_only' });
    let setting: CheckpointRestoreSetting = 'checkpoint_only';
    const { p, l } = publisher(api, () => Promise.resolve(setting));
    assert.equal(await p.publish(), undefined);
    assert.deepEqual(
      api.calls.map((c) => c.method),
      ['GET'],
    );
    setting = 'checkpoint_restore';
    assert.equal(await p.publish(), 'checkpoint_restore');
    api.labels[CHECKPOINT_RESTORE_LABEL] = 'by-hand';
    assert.equal(await p.publish(), 'checkpoint_restore');
    assert.deepEqual(
      l.lines.map((x) => x.msg),
      [
        'node m2-b: runtime checkpoint/restore setting checkpoint_only -> checkpoint_restore',
        'node m2-b: runtime checkpoint/restore setting by-hand -> checkpoint_restore',
      ],
    );
  });

  it('publishes unknown, with a warning saying why, without CRI-O configuration or with a refused value', async () => {
    const api = fakeApi({ [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_restore' });
    const { p, l } = publisher(api, () => Promise.resolve(undefined));
    assert.equal(await p.publish(), 'unknown');
    assert.equal(api.labels[CHECKPOINT_RESTORE_LABEL], 'unknown');
    assert.match(
      l.lines[0]!.msg,
      /^no CRI-O configuration under \/host \(etc\/crio\/crio\.conf.*publishing unknown/,
    );
    const bad = publisher(fakeApi(), () => Promise.reject(new CrioConfigError('/etc/crio/crio.conf:3: bad')));
    assert.equal(await bad.p.publish(), 'unknown');
    assert.deepEqual(bad.l.lines[0], {
      level: 'warn',
      msg: "cannot read CRI-O's configuration: /etc/crio/crio.conf:3: bad; publishing unknown",
    });
  });

  it('a refused patch or read is a warning, never a failure, logged once while it lasts', async () => {
    const api = fakeApi();
    api.refuse = new HttpError(
      403,
      'HTTP 403: nodes "m2-b" is forbidden: cannot patch resource "nodes"',
      'Forbidden',
    );
    const { p, l } = publisher(api, () => Promise.resolve('checkpoint_restore'));
    assert.equal(await p.publish(), undefined);
    assert.equal(await p.publish(), undefined);
    assert.equal(api.calls.filter((c) => c.method === 'PATCH').length, 2, 'tries again each round');
    assert.deepEqual(l.lines, [
      {
        level: 'warn',
        msg:
          `cannot label Node m2-b ${CHECKPOINT_RESTORE_LABEL}=checkpoint_restore: HTTP 403: nodes "m2-b" is ` +
          'forbidden: cannot patch resource "nodes" (deploy/rbac.yaml grants the agent get and patch on nodes); ' +
          'restores cannot tell whether this node allows them',
      },
    ]);
    api.refuse = undefined;
    api.refuseGet = new HttpError(503, 'HTTP 503: unavailable');
    assert.equal(await p.publish(), undefined);
    assert.match(l.lines[1]!.msg, /^cannot read Node m2-b to publish .*: HTTP 503: unavailable$/);
    api.refuseGet = undefined;
    assert.equal(await p.publish(), 'checkpoint_restore');
    assert.equal(l.lines.length, 3);
  });

  it('a warning that stopped and came back is logged again', async () => {
    const api = fakeApi();
    let config: CheckpointRestoreSetting | undefined;
    const { p, l } = publisher(api, () => Promise.resolve(config));
    await p.publish();
    await p.publish();
    config = 'none';
    await p.publish();
    config = undefined;
    await p.publish();
    assert.deepEqual(
      l.lines.map((x) => x.level),
      ['warn', 'info', 'info', 'warn', 'info'],
    );
  });

  it('start publishes at once and again every interval; stop ends it', async () => {
    const api = fakeApi();
    let n = 0;
    const l = fakeLog();
    const p = new RuntimePublisher({
      client: api.client,
      node: 'm2-b',
      log: l.log,
      hostRoot: '/host',
      intervalMs: 5,
      read: () => Promise.resolve(++n % 2 ? 'none' : 'checkpoint_restore'),
    });
    p.start();
    for (let i = 0; i < 1000 && n < 3; i++) await new Promise((r) => setTimeout(r, 10));
    p.stop();
    const rounds = n;
    assert.ok(rounds >= 3, `rounds: ${rounds}`);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(n, rounds, 'no round after stop');
  });

  it("reads the label from the agent's Node cache, and a change of its own Node starts a round", async () => {
    const api = fakeApi();
    type N = { metadata: { name: string; labels: Record<string, string> } };
    let handler: ((e: 'update', n: N) => void) | undefined;
    const node: N = { metadata: { name: 'm2-b', labels: { [CHECKPOINT_RESTORE_LABEL]: 'none' } } };
    let n = 0;
    const p = new RuntimePublisher({
      client: api.client,
      node: 'm2-b',
      log: fakeLog().log,
      hostRoot: '/host',
      intervalMs: 3_600_000,
      read: () => (n++, Promise.resolve('none')),
      nodes: {
        get: (name: string) => (name === 'm2-b' ? node : undefined),
        hasSynced: () => true,
        on: (h: unknown) => void (handler = h as typeof handler),
      } as unknown as RuntimePublisherOptions['nodes'],
    });
    p.start();
    for (let i = 0; i < 1000 && n < 1; i++) await new Promise((r) => setTimeout(r, 10));
    node.metadata.labels = {};
    handler!('update', node);
    for (let i = 0; i < 1000 && !api.calls.length; i++) await new Promise((r) => setTimeout(r, 10));
    p.stop();
    assert.deepEqual(
      [...new Set(api.calls.map((c) => `${c.method} ${c.path}`))],
      ['PATCH /api/v1/nodes/m2-b'],
      'the label removed by hand is put back, and the Node is never read from the apiserver',
    );
  });
});

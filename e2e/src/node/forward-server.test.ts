import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveRule } from './forward-server.js';

/** The stand-in's side stood in by an echo server on a Unix socket; counts the connections it is given. */
let dir: string;
let socket: string;
let echo: net.Server;
let reached = 0;
const open = new Set<net.Socket>();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fwd-'));
  socket = join(dir, '0.sock');
  echo = net.createServer((c) => {
    reached++;
    open.add(c);
    c.on('close', () => open.delete(c));
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await new Promise<void>((r) => echo.listen(socket, r));
});
after(() => {
  for (const c of open) c.destroy();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Connects, sends a byte and resolves with what came back before the connection closed (or the echo, if open). */
function exchange(port: number): Promise<{ c: net.Socket; got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let got = '';
    c.on('error', () => undefined);
    c.on('data', (b: Buffer) => {
      got += b.toString();
      resolve({ c, got, closed: false });
    });
    c.on('close', () => resolve({ c, got, closed: true }));
    c.on('connect', () => c.write('x'));
  });
}

const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;

describe('serveRule', () => {
  it('carries up to maxConnections at once and refuses the next, then takes one again once one closes', async () => {
    const server = await serveRule({ host: '127.0.0.1', port: 0 }, socket, { maxConnections: 2 });
    try {
      const before = reached;
      const a = await exchange(portOf(server));
      const b = await exchange(portOf(server));
      assert.deepEqual([a.got, a.closed, b.got, b.closed], ['x', false, 'x', false]);
      const third = await exchange(portOf(server));
      assert.deepEqual([third.got, third.closed], ['', true], 'the third connection is closed unanswered');
      assert.equal(reached - before, 2, 'the refused connection never reaches the stand-in');
      a.c.destroy();
      await new Promise<void>((r) => {
        const poll = (): void => {
          server.getConnections((_e, n) => (n < 2 ? r() : setImmediate(poll)));
        };
        poll();
      });
      const again = await exchange(portOf(server));
      assert.deepEqual([again.got, again.closed], ['x', false]);
      b.c.destroy();
      again.c.destroy();
    } finally {
      server.close();
    }
  });

  it('closes a relayed connection left idle, on both sides', async () => {
    const server = await serveRule({ host: '127.0.0.1', port: 0 }, socket, { idleMs: 20 });
    try {
      const a = await exchange(portOf(server));
      assert.equal(a.got, 'x');
      await new Promise<void>((r) => (a.c.closed ? r() : a.c.once('close', () => r())));
      assert.equal(a.c.closed, true);
    } finally {
      server.close();
    }
  });
});

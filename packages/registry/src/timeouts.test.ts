import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { REGISTRY_TIMEOUTS, RegistryClient, RegistryError } from './client.js';
import { parseRecipientKey } from '@stateful-migration/ocicrypt';
import { pushImage } from './push.js';
import { answer, loopback, loopbackCert, tempDir, type Loopback } from './loopback.test-support.js';

const tls = loopbackCert();
const closers: (() => Promise<void>)[] = [];
after(() => Promise.all(closers.map((c) => c())));

/** A TCP server that accepts and never says a word (not even a TLS handshake). */
async function silent(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An HTTP server whose handler gets the raw request and response, never reading the body unless told to. */
async function raw(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const timeouts = { idleMs: 300, requestMs: 900 };
/**
 * For the pushes that stall mid-layer: their calls before the stall (the ping, the upload's start) must not meet the
 * idle limit first, which 0.3 s did once at the lowest CPU priority beside the cluster stage (CI, Node 20).
 */
const pushTimeouts = { idleMs: 2000, requestMs: 60_000 };

/**
 * The call fails with TIMEOUT and the message of the timer that fired: each pattern names it ("idle timeout" or
 * "request timeout") and its duration, so which deadline ended the call is told by the message, not by a wall-clock
 * bound that a loaded machine can overrun (the suites run beside each other and the federation).
 */
async function timedOut(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RegistryError, String(e));
    assert.equal(e.code, 'TIMEOUT');
    assert.match(e.message, pattern);
    return true;
  });
}

/** A body that yields `chunks` chunks of 64 KiB, one every `everyMs`. */
const trickle = (chunks: number, everyMs: number) =>
  Readable.from(
    (async function* () {
      for (let i = 0; i < chunks; i++) {
        await new Promise((r) => setTimeout(r, everyMs));
        yield Buffer.alloc(64 * 1024, i);
      }
    })(),
  );

// A timer that never fires fails the suite at its timeout instead of hanging the run.
describe('registry requests have timeouts: a hung registry cannot stall a node', { timeout: 60_000 }, () => {
  it('has defaults: 60 s without a byte either way, 120 s for a whole answer', () => {
    assert.deepEqual(REGISTRY_TIMEOUTS, { idleMs: 60_000, requestMs: 120_000 });
  });

  it('a registry that accepts the connection and never answers (no TLS handshake): idle timeout', async () => {
    const host = await silent();
    await timedOut(
      new RegistryClient({ host, ca: tls.cert, timeouts }).login('shop/app'),
      new RegExp(`registry ${host}: nothing sent or received for 0.3 s during GET /v2/ \\(idle timeout\\)`),
    );
  });

  it('a registry that reads the request and never answers: idle timeout, over http too', async () => {
    const host = await raw(() => undefined);
    await timedOut(
      new RegistryClient({ host, insecureHttp: true, timeouts }).request('GET', '/v2/shop/app/tags/list'),
      /during GET \/v2\/shop\/app\/tags\/list \(idle timeout\)/,
    );
  });

  it('an answer that trickles forever: the request timeout ends it', async () => {
    const host = await raw((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const t = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(t));
    });
    // An idle limit far above the trickle's 100 ms: this test runs at the lowest CPU priority beside the cluster
    // stage, where a stall of the event loop past 0.3 s (the shared idle limit) fired the idle timer instead (CI).
    await timedOut(
      new RegistryClient({
        host,
        insecureHttp: true,
        timeouts: { idleMs: 2000, requestMs: 3000 },
      }).request('GET', '/v2/'),
      /GET \/v2\/ got no complete answer within 3 s \(request timeout\)/,
    );
  });

  it('a streamed upload is not cut while bytes flow, even well past both timeouts', async () => {
    let got = 0;
    const host = await raw((req, res) => {
      req.on('data', (c: Buffer) => (got += c.length));
      req.on('end', () => answer(res, 202, { Location: '/v2/x/blobs/uploads/1' }));
    });
    const t0 = Date.now();
    const res = await new RegistryClient({
      host,
      insecureHttp: true,
      timeouts: { idleMs: 300, requestMs: 200 },
    }).request('PATCH', '/v2/x/blobs/uploads/1', { body: trickle(15, 100) });
    assert.equal(res.status, 202);
    assert.equal(got, 15 * 64 * 1024);
    assert.ok(Date.now() - t0 > 1000, 'it ran longer than both timeouts');
  });

  it('over https too: a fresh TLS connection is not cut at the idle limit while bytes flow', async () => {
    let got = 0;
    const reg = await loopback((s, res) => {
      got += s.body.length;
      answer(res, 202);
    }, tls);
    closers.push(() => reg.close());
    const t0 = Date.now();
    const res = await new RegistryClient({
      host: reg.host,
      ca: tls.cert,
      timeouts: { idleMs: 300, requestMs: 200 },
    }).request('PATCH', '/v2/x/blobs/uploads/1', { body: trickle(10, 100) });
    assert.equal(res.status, 202);
    assert.equal(got, 10 * 64 * 1024);
    assert.ok(Date.now() - t0 > 900);
  });

  it('a streamed upload the registry stops reading: idle timeout, and the body stream is released', async () => {
    const host = await raw((req) => req.pause());
    let made = 0;
    const body = new Readable({
      read() {
        made += 1 << 20;
        this.push(made > 512 << 20 ? null : Buffer.alloc(1 << 20));
      },
    });
    await timedOut(
      new RegistryClient({ host, insecureHttp: true, timeouts }).request('PATCH', '/v2/x/blobs/uploads/1', {
        body,
      }),
      /nothing sent or received for 0.3 s during PATCH \/v2\/x\/blobs\/uploads\/1 \(idle timeout\)/,
    );
    assert.ok(made < 512 << 20, 'it stopped sending long before the end');
    assert.ok(body.destroyed, 'the body stream (and the file under it) is released');
  });

  it('pushImage to a registry that stops reading the layer: a timeout naming the step, and the file is closed', async () => {
    const host = await raw((req, res) => {
      if (req.method === 'GET') return answer(res, 200, {}, {});
      if (req.method === 'POST') return answer(res, 202, { Location: '/v2/shop/app/blobs/uploads/1' });
      req.pause();
    });
    const layer = join(tempDir('timeouts-'), 'layer.tar');
    writeFileSync(layer, Buffer.alloc(64 << 20));
    const open = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === layer;
        } catch {
          return false;
        }
      }).length;
    await timedOut(
      pushImage(new RegistryClient({ host, insecureHttp: true, timeouts: pushTimeouts }), {
        repository: 'shop/app',
        tag: 't',
        layerTar: layer,
        annotations: {},
        created: new Date(0),
      }),
      /during PATCH \/v2\/shop\/app\/blobs\/uploads\/1 \(idle timeout\)/,
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(open(), 0, 'the layer file is closed');
  });

  it('pushImage encrypting to a registry that stops reading: the same timeout, and the file under the encryptor is closed', async () => {
    const host = await raw((req, res) => {
      if (req.method === 'GET') return answer(res, 200, {}, {});
      if (req.method === 'POST') return answer(res, 202, { Location: '/v2/shop/app/blobs/uploads/2' });
      req.pause();
    });
    const layer = join(tempDir('timeouts-'), 'layer.tar');
    writeFileSync(layer, Buffer.alloc(64 << 20));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const open = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === layer;
        } catch {
          return false;
        }
      }).length;
    await timedOut(
      pushImage(new RegistryClient({ host, insecureHttp: true, timeouts: pushTimeouts }), {
        repository: 'shop/app',
        tag: 't',
        layerTar: layer,
        annotations: {},
        created: new Date(0),
        encryptFor: [parseRecipientKey(publicKey.export({ type: 'spki', format: 'pem' }) as string)],
      }),
      /during PATCH \/v2\/shop\/app\/blobs\/uploads\/2 \(idle timeout\)/,
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(open(), 0, 'the layer file is closed');
  });

  it('after a streamed body, the answer must come within the request timeout', async () => {
    const host = await raw((req) => {
      req.resume();
      // Reads everything, then keeps the connection alive with nothing but TCP keepalives: no answer.
    });
    await timedOut(
      new RegistryClient({
        host,
        insecureHttp: true,
        timeouts: { idleMs: 5000, requestMs: 400 },
      }).request('PUT', '/v2/x/blobs/uploads/1?digest=sha256:0', { body: trickle(3, 10) }),
      /PUT \/v2\/x\/blobs\/uploads\/1 got no complete answer within 0.4 s/,
    );
  });

  it('a token realm that never answers times out too', async () => {
    const realm = await silent();
    let tokenHost = '';
    const reg: Loopback = await loopback(
      (_s, res) => answer(res, 401, { 'WWW-Authenticate': `Bearer realm="https://${tokenHost}/token"` }),
      tls,
    );
    closers.push(() => reg.close());
    tokenHost = realm;
    await timedOut(
      new RegistryClient({
        host: reg.host,
        ca: tls.cert,
        credentials: { username: 'u', password: 'p' },
        tokenHosts: [realm],
        // Longer than the others: the registry's own leg (a TLS handshake, then the 401) must get through first,
        // and on a loaded machine (the unit suites run at the lowest CPU priority beside the federation) it once
        // took more than 0.3 s, so the call timed out at GET /v2/ instead of at the realm.
        timeouts: { idleMs: 3000, requestMs: 9000 },
      }).login('shop/app'),
      new RegExp(`\\(at ${realm}\\): nothing sent or received for 3 s during GET /token`),
    );
  });
});

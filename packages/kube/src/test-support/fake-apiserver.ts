import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { RestClient } from '../rest.js';

/** What a test's handler answers: a status and a JSON body. */
export interface FakeReply {
  status: number;
  body?: unknown;
  /** Send the status line and headers, then nothing more: a peer that stalls mid-answer. */
  stallAfterHeaders?: boolean;
}

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The request's Content-Type, when it sent a body. */
  contentType?: string;
}

let pair: { key: Buffer; cert: Buffer } | undefined;

/**
 * A self-signed certificate for 127.0.0.1, made once per process with openssl (as e2e/src/fed/certs.ts does), for any
 * loopback HTTPS server a test needs.
 */
export function loopbackCert(): { key: Buffer; cert: Buffer } {
  if (pair) return pair;
  const dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    pair = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return pair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A loopback HTTPS server that plays an apiserver for unit tests: a handler answers each request, and freeze()
 * makes it a silent peer (connections are accepted, requests are read, nothing is ever answered), the way an
 * apiserver behind a dead network path or a stuck load balancer looks to a client.
 */
export class FakeApiserver {
  readonly requests: FakeRequest[] = [];
  readonly #server: https.Server;
  readonly #sockets = new Set<Socket>();
  readonly #held: ServerResponse[] = [];
  #frozen = false;
  #received = 0;
  #inFlight = 0;
  #maxInFlight = 0;

  constructor(private readonly handler: (r: FakeRequest) => FakeReply | Promise<FakeReply>) {
    this.#server = https.createServer(loopbackCert(), (req, res) => void this.#serve(req, res));
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // In flight from its arrival until it is answered (before the client can see the answer, so a request sent on
    // the answer of another never overlaps it here) or its connection closes unanswered.
    this.#inFlight++;
    this.#maxInFlight = Math.max(this.#maxInFlight, this.#inFlight);
    let answered = false;
    const done = (): void => {
      if (!answered) this.#inFlight--;
      answered = true;
    };
    res.once('close', done);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    this.#received++;
    if (this.#frozen) {
      this.#held.push(res);
      return;
    }
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const text = Buffer.concat(chunks).toString('utf8');
    const r: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      body: text ? (JSON.parse(text) as unknown) : undefined,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
    };
    this.requests.push(r);
    const reply = await this.handler(r);
    if (this.#frozen) {
      this.#held.push(res);
      return;
    }
    res.writeHead(reply.status, { 'Content-Type': 'application/json' });
    if (reply.stallAfterHeaders) {
      res.flushHeaders();
      this.#held.push(res);
      return;
    }
    done();
    res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as AddressInfo).port;
  }

  /** A RestClient for this server, trusting its certificate. */
  client(): RestClient {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'fake',
          server: `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`,
          caData: loopbackCert().cert.toString('base64'),
        },
      ],
      users: [{ name: 'fake', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return new RestClient(kc);
  }

  /** Requests read so far, answered or not. */
  received(): number {
    return this.#received;
  }

  /** The most requests it held at once, arrived and not yet answered: how many a client has in flight together. */
  maxInFlight(): number {
    return this.#maxInFlight;
  }

  /** From now on, accept and read but never answer. */
  freeze(): void {
    this.#frozen = true;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    for (const res of this.#held.splice(0)) res.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

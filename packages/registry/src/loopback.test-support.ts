/** Loopback servers for the registry client's unit tests: fake registries and capture servers. Not runtime API. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A self-signed certificate for 127.0.0.1 (openssl, as e2e/src/fed/certs.ts makes the federation's). The twin of
 * kube/testing's loopbackCert: this package does not depend on kube, and its tests should not pull it in.
 */
export function loopbackCert(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'loopback-cert-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
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
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fresh temporary directory, removed once the test, suite or file that made it is done (node:test's `after` attaches
 * to whatever runs when it is called). The twin of kube/testing's tempDir, for the same reason as loopbackCert's.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** What a server received: every header as it arrived, and the body. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: Seen, res: http.ServerResponse) => void;

export interface Loopback {
  /** host:port */
  host: string;
  /** https://host:port or http://host:port */
  origin: string;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * A server on 127.0.0.1 at a free port that records every request (headers and body) before the handler answers.
 * With `tls`, it serves HTTPS with that certificate.
 */
export async function loopback(handler: Handler, tls?: { key: Buffer; cert: Buffer }): Promise<Loopback> {
  const seen: Seen[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      handler(s, res);
    });
  };
  const server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    origin: `${tls ? 'https' : 'http'}://${host}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with a status, headers and an optional JSON body. */
export function answer(
  res: http.ServerResponse,
  status: number,
  headers: Record<string, string> = {},
  body?: unknown,
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Every header value a server saw, as one string, to search for a secret in. */
export const everything = (seen: Seen[]): string =>
  seen
    .map((s) => `${s.method} ${s.url}\n${JSON.stringify(s.headers)}\n${s.body.toString('latin1')}`)
    .join('\n');

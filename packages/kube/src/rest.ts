import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import { text } from 'node:stream/consumers';
import { KubeConfig } from '@kubernetes/client-node';

/** A failed API request: the apiserver's status code and its Status message (never the request body). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** @default application/json, or merge-patch for PATCH */
  contentType?: string;
  signal?: AbortSignal;
  /** @default 30 s */
  timeoutMs?: number;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/**
 * A small JSON client over one keep-alive agent per kubeconfig. client-node 1.4 builds a new agent for every call,
 * which makes tight re-list loops expensive; its KubeConfig still supplies the credentials for each request.
 */
export class RestClient {
  readonly kc: KubeConfig;
  #agent: https.Agent | undefined;

  constructor(kc: KubeConfig) {
    this.kc = kc;
  }

  static fromFile(path: string): RestClient {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return new RestClient(kc);
  }

  get server(): string {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    return cluster.server;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#send(method, path, opts);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw toHttpError(status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {});
  }

  /** Streams watch events until the server closes, the signal aborts, or an error; resolves on a clean end. */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.#send('GET', path, { query: { ...query, watch: true }, signal, timeoutMs: 0 });
    const status = res.statusCode ?? 0;
    if (status !== 200) throw toHttpError(status, await readAll(res));
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: res });
      lines.on('line', (line) => {
        if (!line) return;
        try {
          onEvent(JSON.parse(line) as WatchEvent<T>);
        } catch (err) {
          res.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      });
      // readline re-emits its input's errors on itself
      lines.on('error', reject);
      res.on('error', reject);
      lines.on('close', () =>
        res.complete ? resolve() : reject(new Error('watch connection closed early')),
      );
      if (res.destroyed) reject(new Error('watch connection closed'));
    });
  }

  async #send(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: {} };
    await this.kc.applyToHTTPSOptions(reqOpts);
    this.#agent ??= new https.Agent({
      keepAlive: true,
      ca: reqOpts.ca,
      cert: reqOpts.cert,
      key: reqOpts.key,
      rejectUnauthorized: reqOpts.rejectUnauthorized ?? true,
      servername: reqOpts.servername,
    });
    const headers: Record<string, string> = { Accept: 'application/json' };
    for (const [k, v] of Object.entries(reqOpts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = JSON.stringify(opts.body);
      headers['Content-Type'] =
        opts.contentType ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        { method, headers, agent: this.#agent, ...(opts.signal ? { signal: opts.signal } : {}) },
        (res) => {
          // A reset connection destroys the response with an error; readers see it through their own
          // listeners or the 'close' event, and it must never become an uncaught exception.
          res.on('error', () => undefined);
          resolve(res);
        },
      );
      const timeout = opts.timeoutMs ?? 30_000;
      if (timeout > 0) req.setTimeout(timeout, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return text(res);
}

function toHttpError(status: number, text: string): HttpError {
  try {
    const s = JSON.parse(text) as { message?: string; reason?: string };
    return new HttpError(status, `HTTP ${status}: ${s.message ?? 'no message'}`, s.reason);
  } catch {
    return new HttpError(status, `HTTP ${status}`);
  }
}

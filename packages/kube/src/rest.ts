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

/** How a call is made, never what it asks: nothing here ends up in the URL. */
export interface CallOptions {
  /** Aborts the call, whatever stage it is in. */
  signal?: AbortSignal;
  /**
   * The whole call, from connecting to the last byte of the answer: an apiserver that accepts and never answers
   * fails the call after this long. 0: no limit (watches). @default 30 s
   */
  timeoutMs?: number;
}

/**
 * URL query parameters. The names of CallOptions are refused here by the type, so options can never be sent as a
 * query by mistake (a leader's Lease GET once ran with the default timeout that way: `get(path, { timeoutMs })`).
 */
export type Query = Record<string, string | number | boolean | undefined> & {
  [K in keyof CallOptions]?: never;
};

export interface RequestOptions extends CallOptions {
  query?: Query;
  body?: unknown;
  /** @default application/json, or merge-patch for PATCH */
  contentType?: string;
}

export type GetOptions = CallOptions & { query?: Query };

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The calls a controller makes of a RestClient: what the helpers take, and what a test fakes. */
export type ApiClient = Pick<RestClient, 'get' | 'request'>;

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
  /** Told of every request sent (watches included), as Kubernetes names it: for a request counter. */
  onRequest?: (verb: string, resource: string) => void;
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

  /** One call, bounded as a whole by opts.timeoutMs (reading the answer included). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const deadline = callDeadline(`${method} ${path}`, opts);
    try {
      const res = await this.#send(method, path, opts, deadline.signal);
      const text = await readAll(res);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) throw toHttpError(status, text);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      deadline.done();
    }
  }

  get<T>(path: string, opts: GetOptions = {}): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  /** Streams watch events until the server closes, the signal aborts, or an error; resolves on a clean end. */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.#send('GET', path, { query: { ...query, watch: true } }, signal);
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

  async #send(
    method: string,
    path: string,
    opts: Omit<RequestOptions, keyof CallOptions>,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    checkPath(path);
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    if (this.onRequest) {
      const { verb, resource } = requestKind(method, url.pathname, url.searchParams.get('watch') === 'true');
      this.onRequest(verb, resource);
    }
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
      if (signal?.aborted) return reject(abortReason(signal));
      const req = https.request(url, { method, headers, agent: this.#agent }, (res) => {
        // A reset connection destroys the response with an error; readers see it through their own
        // listeners or the 'close' event, and it must never become an uncaught exception.
        res.on('error', () => undefined);
        // The deadline covers the answer's body too: a server may send headers and then stall.
        if (signal) {
          const cut = () => res.destroy(abortReason(signal));
          signal.addEventListener('abort', cut, { once: true });
          res.once('close', () => signal.removeEventListener('abort', cut));
        }
        resolve(res);
      });
      if (signal) {
        const cut = () => req.destroy(abortReason(signal));
        signal.addEventListener('abort', cut, { once: true });
        req.once('close', () => signal.removeEventListener('abort', cut));
      }
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

/**
 * The signal that ends a call: the caller's, and a timer for the whole call (unless timeoutMs is 0). A timer and
 * not the socket's idle timeout, so that neither a silent peer nor one that trickles bytes can stretch a call.
 */
function callDeadline(what: string, opts: CallOptions): { signal: AbortSignal | undefined; done(): void } {
  const ms = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(ms > 0)) return { signal: opts.signal, done: () => undefined };
  const end = new AbortController();
  const t = setTimeout(() => end.abort(new Error(`${what}: no answer within ${ms} ms`)), ms);
  // The caller's signal may live long (a leader's term): listen for this call only, rather than AbortSignal.any.
  const caller = opts.signal;
  const follow = () => end.abort(caller?.reason);
  if (caller?.aborted) follow();
  else caller?.addEventListener('abort', follow, { once: true });
  return {
    signal: end.signal,
    done: () => {
      clearTimeout(t);
      caller?.removeEventListener('abort', follow);
    },
  };
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('request aborted');
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

/**
 * Refuses a path the URL parser would resolve into another: a `.` or `..` segment, plain or percent-encoded, or a
 * backslash (which https URLs read as `/`). Paths are built from names in users' specs; a name such as
 * `../../other/secrets/x` must never become a request for another namespace's object (safe by construction, beside
 * each controller's own check of the names it reads). The query is not a path and is not checked.
 */
export function checkPath(path: string): void {
  const p = path.split('?')[0]!;
  const bad =
    p.includes('\\') ||
    p.split('/').some((seg) => {
      const s = seg.replace(/%2e/gi, '.');
      return s === '.' || s === '..';
    });
  if (bad)
    throw new Error(
      `${JSON.stringify(p)} is not a path the client sends: it holds a . or .. segment or a \\`,
    );
}

/**
 * What a request is in the apiserver's own terms (its audit and apiserver_request_total): the verb (get, list,
 * watch, create, update, patch, delete, deletecollection) and the resource with its subresource, e.g. pods/status.
 * Pure.
 */
export function requestKind(method: string, path: string, watch = false): { verb: string; resource: string } {
  const parts = path.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  // A namespaced resource, not a namespace's own subresource (status, finalize).
  if (rest[0] === 'namespaces' && rest.length > 2 && !['status', 'finalize'].includes(rest[2]!))
    rest = rest.slice(2);
  const [resource = '', name, sub] = rest;
  const named = `${resource}${sub ? `/${sub}` : ''}`;
  const m = method.toUpperCase();
  const verb = watch
    ? 'watch'
    : m === 'GET'
      ? name === undefined
        ? 'list'
        : 'get'
      : m === 'POST'
        ? 'create'
        : m === 'PUT'
          ? 'update'
          : m === 'PATCH'
            ? 'patch'
            : m === 'DELETE'
              ? name === undefined
                ? 'deletecollection'
                : 'delete'
              : m.toLowerCase();
  return { verb, resource: named };
}

import https from 'node:https';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** host[:port] */
  host: string;
  credentials?: Credentials;
  /** PEM CA bundle to trust (besides the system's). */
  ca?: string | Buffer;
  /** Plain HTTP, for a registry without TLS. @default false */
  insecureHttp?: boolean;
}

/** A registry's refusal, with the status and the registry's error code, never the credentials. */
export class RegistryError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^(\w+)\s+(.*)$/.exec(header.trim());
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)="([^"]*)"/g)) params[p[1]!] = p[2]!;
  const scheme = m[1]!.toLowerCase();
  return scheme === 'basic' || scheme === 'bearer' ? { scheme, params } : undefined;
}

/**
 * A client of the OCI distribution API. It answers a 401 challenge the way docker and containers/image do: Basic
 * with the credentials, or Bearer with a token fetched from the realm for the challenged scope. Credentials live
 * only in this object, one per CheckpointBackup, and appear in no error message.
 */
export class RegistryClient {
  readonly #o: RegistryOptions;
  #auth: string | undefined;

  constructor(o: RegistryOptions) {
    this.#o = o;
  }

  get host(): string {
    return this.#o.host;
  }

  /** Sends one request; body may be a stream (sent once, so the caller must authenticate first with ping()). */
  async request(
    method: string,
    path: string,
    opts: { body?: Buffer | Readable; headers?: Record<string, string>; scope?: string } = {},
  ): Promise<Response> {
    let res = await this.#send(method, path, opts);
    if (res.status === 401 && !(opts.body && !Buffer.isBuffer(opts.body))) {
      await this.#authenticate(res.headers['www-authenticate'], opts.scope);
      res = await this.#send(method, path, opts);
    }
    return res;
  }

  /** Authenticates for a repository scope ahead of a streamed upload, which cannot be replayed. */
  async login(repository: string): Promise<void> {
    const scope = `repository:${repository}:pull,push`;
    const res = await this.#send('GET', '/v2/', {});
    if (res.status === 401) {
      await this.#authenticate(res.headers['www-authenticate'], scope);
      const again = await this.#send('GET', '/v2/', {});
      if (again.status === 401)
        throw new RegistryError(401, 'UNAUTHORIZED', `registry ${this.host} refused the credentials (401)`);
    } else if (res.status >= 400) {
      throw new RegistryError(
        res.status,
        'UNAVAILABLE',
        `registry ${this.host} answered ${res.status} to /v2/`,
      );
    }
  }

  async #authenticate(header: string | string[] | undefined, scope?: string): Promise<void> {
    const c = parseChallenge(Array.isArray(header) ? header[0] : header);
    const creds = this.#o.credentials;
    if (!c)
      throw new RegistryError(
        401,
        'UNAUTHORIZED',
        `registry ${this.host} asked for authentication it did not describe`,
      );
    if (!creds)
      throw new RegistryError(
        401,
        'UNAUTHORIZED',
        `registry ${this.host} needs credentials and none were given`,
      );
    const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    if (c.scheme === 'basic') {
      this.#auth = basic;
      return;
    }
    const realm = new URL(c.params.realm ?? '');
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    const wanted = scope ?? c.params.scope;
    if (wanted) realm.searchParams.set('scope', wanted);
    const res = await this.#raw('GET', realm, { Authorization: basic });
    if (res.status !== 200) {
      throw new RegistryError(
        res.status,
        'UNAUTHORIZED',
        `registry ${this.host} token service refused the credentials (${res.status})`,
      );
    }
    const t = JSON.parse(res.body) as { token?: string; access_token?: string };
    this.#auth = `Bearer ${t.token ?? t.access_token ?? ''}`;
  }

  #send(
    method: string,
    path: string,
    opts: { body?: Buffer | Readable; headers?: Record<string, string> },
  ): Promise<Response> {
    const base = `${this.#o.insecureHttp ? 'http' : 'https'}://${this.#o.host}`;
    const url = new URL(path.startsWith('http') ? path : base + path);
    return this.#raw(
      method,
      url,
      { ...(this.#auth ? { Authorization: this.#auth } : {}), ...opts.headers },
      opts.body,
    );
  }

  #raw(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | Readable,
  ): Promise<Response> {
    const lib = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        url,
        { method, headers, ...(this.#o.ca ? { ca: this.#o.ca } : {}) },
        (res: IncomingMessage) => {
          text(res).then(
            (b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }),
            reject,
          );
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(
          new RegistryError(
            0,
            err.code ?? 'NETWORK',
            `registry ${this.host} unreachable: ${err.code ?? err.message}`,
          ),
        ),
      );
      if (body === undefined || Buffer.isBuffer(body)) req.end(body);
      else {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }
}

/** Turns a non-2xx answer into a RegistryError with the registry's own error code and message. */
export function expectOk(res: Response, what: string, host: string): Response {
  if (res.status >= 200 && res.status < 300) return res;
  let code = 'UNKNOWN';
  let detail = '';
  try {
    const e = (JSON.parse(res.body) as { errors?: { code?: string; message?: string }[] }).errors?.[0];
    code = e?.code ?? code;
    detail = e?.message ? `: ${e.message}` : '';
  } catch {
    // not JSON
  }
  if (res.status === 401) detail = ': the credentials were refused';
  throw new RegistryError(res.status, code, `${what} on ${host} failed (${res.status} ${code}${detail})`);
}

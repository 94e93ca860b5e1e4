import https from 'node:https';
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { credentialsMayGo, mayFollow, registryBase, shown, type Verdict } from './origin.js';

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
  /**
   * Hosts (host[:port]) besides the registry whose https token realm may receive the credentials, for registries
   * whose token service lives elsewhere (Docker Hub: auth.docker.io; GitLab: gitlab.com). The platform's
   * configuration, never a registry's answer. @default none
   */
  tokenHosts?: string[];
  /** Bounds on each request, so a hung registry cannot stall a node's queue or retention. */
  timeouts?: Partial<RegistryTimeouts>;
}

export interface RegistryTimeouts {
  /**
   * Longest silence on the connection (nothing sent, nothing received), from connecting to the last byte of the
   * answer. It is what bounds a streamed upload: a large layer may take as long as it needs while bytes flow.
   */
  idleMs: number;
  /**
   * Longest wait for a complete answer: from the start for a request without a stream, from the end of the upload
   * for a streamed one.
   */
  requestMs: number;
}

/**
 * Defaults: 60 s of silence is what common proxies in front of registries allow (nginx's proxy_read_timeout);
 * 120 s bounds a manifest, tag list, token or upload commit generously.
 */
export const REGISTRY_TIMEOUTS: Readonly<RegistryTimeouts> = Object.freeze({
  idleMs: 60_000,
  requestMs: 120_000,
});

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
  /** Where the answer came from, after redirects: a relative Location or Link is relative to it. */
  url: URL;
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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** As Go's http client: enough for a CDN hop or two, not a loop. */
const MAX_REDIRECTS = 5;

/** Credentials for a request, and where they may go (decided per URL, so a redirect elsewhere drops them). */
interface Auth {
  value: string;
  mayGo: (u: URL) => Verdict;
}

/**
 * A client of the OCI distribution API. It answers a 401 challenge the way docker and containers/image do: Basic
 * with the credentials, or Bearer with a token fetched from the realm for the challenged scope. Credentials live
 * only in this object, one per CheckpointBackup, appear in no error message, and go to no other origin than the
 * registry's (origin.ts): not to a token realm, upload Location, redirect or Link elsewhere, not over plain http.
 */
export class RegistryClient {
  readonly #o: RegistryOptions;
  readonly #base: URL;
  readonly #timeouts: RegistryTimeouts;
  #auth: string | undefined;

  constructor(o: RegistryOptions) {
    this.#o = o;
    this.#base = registryBase(o.host, o.insecureHttp);
    this.#timeouts = { ...REGISTRY_TIMEOUTS, ...o.timeouts };
  }

  get host(): string {
    return this.#o.host;
  }

  /**
   * A URL the registry named in an answer (a Location, a Link), resolved against where that answer came from, and
   * refused with a message when it may not be followed at all (plain http from an https registry).
   */
  resolve(ref: string, from: Response, what: string): URL {
    let u: URL;
    try {
      u = new URL(ref, from.url);
    } catch {
      throw new RegistryError(0, 'BAD_URL', `registry ${this.host} sent ${what} to an invalid URL`);
    }
    const v = mayFollow(this.#base, u);
    if (!v.ok)
      throw new RegistryError(
        0,
        'REFUSED_URL',
        `registry ${this.host} sent ${what} to ${shown(u)}; refused: ${v.why}`,
      );
    return u;
  }

  /** The Location of an answer (where an upload goes next), resolved as resolve() does. */
  location(res: Response, what: string): URL {
    const loc = res.headers.location;
    if (!loc)
      throw new RegistryError(
        res.status,
        'NO_LOCATION',
        `registry ${this.host} did not say where ${what} goes (no Location in its ${res.status} answer)`,
      );
    return this.resolve(loc, res, what);
  }

  /**
   * Sends one request to a path on the registry or a URL it named; body may be a stream (sent once, so the caller
   * must authenticate first with login()). The credentials go along only to the registry's own origin.
   */
  async request(
    method: string,
    path: string | URL,
    opts: { body?: Buffer | Readable; headers?: Record<string, string>; scope?: string } = {},
  ): Promise<Response> {
    const url = new URL(path, this.#base);
    let res = await this.#send(method, url, opts);
    if (res.status === 401 && !credentialsMayGo(this.#base, res.url).ok) {
      // Another origin (an upload Location, a redirect) wants the credentials: they are not sent there. Distribution
      // names its Locations by its configured http.host, so this is often that setting differing from the URL used.
      throw new RegistryError(
        401,
        'UNAUTHORIZED',
        `registry ${this.host}: ${shown(res.url)} asked for credentials, which go only to ${this.#base.origin} ` +
          `(is the registry's own public URL, e.g. distribution's http.host, the one in spec.registry.url?)`,
      );
    }
    if (res.status === 401 && !(opts.body && !Buffer.isBuffer(opts.body))) {
      await this.#authenticate(res.headers['www-authenticate'], opts.scope);
      res = await this.#send(method, url, opts);
    }
    return res;
  }

  /** Authenticates for a repository scope ahead of a streamed upload, which cannot be replayed. */
  async login(repository: string): Promise<void> {
    const scope = `repository:${repository}:pull,push`;
    const v2 = new URL('/v2/', this.#base);
    const res = await this.#send('GET', v2, {});
    if (res.status === 401) {
      await this.#authenticate(res.headers['www-authenticate'], scope);
      const again = await this.#send('GET', v2, {});
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
    const realm = this.#realm(c.params.realm);
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    const wanted = scope ?? c.params.scope;
    if (wanted) realm.searchParams.set('scope', wanted);
    const tokenHosts = this.#o.tokenHosts ?? [];
    const res = await this.#exchange('GET', realm, {}, undefined, {
      value: basic,
      mayGo: (u) => credentialsMayGo(this.#base, u, tokenHosts),
    });
    if (res.status !== 200) {
      throw new RegistryError(
        res.status,
        'UNAUTHORIZED',
        `registry ${this.host} token service refused the credentials (${res.status})`,
      );
    }
    this.#auth = `Bearer ${this.#token(res.body)}`;
  }

  #token(body: string): string {
    try {
      const t = JSON.parse(body) as { token?: string; access_token?: string };
      return t.token ?? t.access_token ?? '';
    } catch {
      throw new RegistryError(
        200,
        'UNAUTHORIZED',
        `registry ${this.host} token realm answered without a token`,
      );
    }
  }

  /** The challenge's token realm, refused (naming it and why) unless the credentials may go there. */
  #realm(given: string | undefined): URL {
    let realm: URL;
    try {
      realm = new URL(given ?? '');
    } catch {
      throw new RegistryError(
        401,
        'UNAUTHORIZED',
        `registry ${this.host} named an invalid token realm "${(given ?? '').slice(0, 200)}"`,
      );
    }
    const v = credentialsMayGo(this.#base, realm, this.#o.tokenHosts ?? []);
    if (v.ok) return realm;
    const trustHint =
      realm.protocol === 'https:'
        ? `; if it is this registry's own token service, the platform can trust it (agent flag --registry-token-host=${this.host}=${realm.host})`
        : '';
    throw new RegistryError(
      401,
      'UNTRUSTED_REALM',
      `registry ${this.host} named token realm ${shown(realm)}, and the credentials were not sent there: ${v.why}${trustHint}`,
    );
  }

  async #send(
    method: string,
    url: URL,
    opts: { body?: Buffer | Readable; headers?: Record<string, string> },
  ): Promise<Response> {
    const v = mayFollow(this.#base, url);
    if (!v.ok)
      throw new RegistryError(
        0,
        'REFUSED_URL',
        `registry ${this.host}: refused ${method} ${shown(url)}: ${v.why}`,
      );
    const auth = this.#auth;
    return this.#exchange(
      method,
      url,
      opts.headers ?? {},
      opts.body,
      auth ? { value: auth, mayGo: (u) => credentialsMayGo(this.#base, u) } : undefined,
    );
  }

  /**
   * One request, following the redirects of a GET or HEAD (a CDN in front of blobs); the credentials are decided
   * for every hop, so a hop to another origin gets none. Other methods return their 3xx (a body is not replayed).
   */
  async #exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | Readable | undefined,
    auth: Auth | undefined,
  ): Promise<Response> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const h = auth?.mayGo(target).ok ? { ...headers, Authorization: auth.value } : headers;
      const res = await this.#once(method, target, h, body);
      const followed = (method === 'GET' || method === 'HEAD') && REDIRECTS.has(res.status);
      if (!followed || !res.headers.location) return res;
      if (hop >= MAX_REDIRECTS)
        throw new RegistryError(
          res.status,
          'TOO_MANY_REDIRECTS',
          `registry ${this.host} redirected ${method} ${shown(url)} more than ${MAX_REDIRECTS} times`,
        );
      target = this.resolve(res.headers.location, res, `the redirect of ${method} ${shown(target)}`);
    }
  }

  /**
   * One HTTP exchange, bounded: an idle timeout on the socket (writes count, so a flowing upload lives on; a
   * registry that stops reading it does not), and a request timeout armed once there is nothing left to send.
   * On either, the request and a streamed body are destroyed (the file under it is closed).
   */
  #once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body?: Buffer | Readable,
  ): Promise<Response> {
    const lib = url.protocol === 'http:' ? http : https;
    const where = url.host === this.#base.host ? '' : ` (at ${url.host})`;
    const { idleMs, requestMs } = this.#timeouts;
    const what = `${method} ${url.pathname}`;
    const secs = (ms: number) => `${ms / 1000} s`;
    const stream = body !== undefined && !Buffer.isBuffer(body) ? body : undefined;
    const timeout = (message: string) =>
      new RegistryError(0, 'TIMEOUT', `registry ${this.host}${where}: ${message}`);
    const idle = () => timeout(`nothing sent or received for ${secs(idleMs)} during ${what} (idle timeout)`);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let failure: RegistryError | undefined;
      // Node arms the socket's idle timeout only once it is connected; a TLS handshake that never ends needs its
      // own bound, or it would take two idle periods.
      const connecting = setTimeout(() => fail(idle()), idleMs);
      const fail = (e: RegistryError) => {
        failure ??= e;
        req.destroy(failure);
        stream?.destroy();
      };
      const settle = (err?: unknown) => {
        clearTimeout(timer);
        clearTimeout(connecting);
        if (!err) return;
        stream?.destroy();
        reject(failure ?? this.#networkError(err as NodeJS.ErrnoException, where));
      };
      const armRequestTimeout = () => {
        timer = setTimeout(
          () => fail(timeout(`${what} got no complete answer within ${secs(requestMs)} (request timeout)`)),
          requestMs,
        );
      };
      const req = lib.request(
        url,
        { method, headers, timeout: idleMs, ...(this.#o.ca ? { ca: this.#o.ca } : {}) },
        (res: IncomingMessage) => {
          text(res).then((b) => {
            settle();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, url });
          }, settle);
        },
      );
      req.on('socket', (sock) => {
        if (req.reusedSocket) return clearTimeout(connecting);
        sock.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connecting));
      });
      req.on('timeout', () => fail(idle()));
      req.on('error', settle);
      if (!stream) {
        armRequestTimeout();
        req.end(body);
      } else {
        req.on('finish', armRequestTimeout);
        stream.on('error', (e) => req.destroy(e));
        stream.pipe(req);
      }
    });
  }

  #networkError(err: NodeJS.ErrnoException, where: string): RegistryError {
    if (err instanceof RegistryError) return err;
    return new RegistryError(
      0,
      err.code ?? 'NETWORK',
      `registry ${this.host} unreachable${where}: ${err.code ?? err.message}`,
    );
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

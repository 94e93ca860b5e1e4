import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { describeError, type Logger } from '@stateful-migration/kube';
import type { AdmissionRequest, AdmissionResponse } from '../workload/admission.js';

/**
 * The hub's admission webhook server (docs/adr/0007 Decision 3): HTTPS, called by the members' apiservers by URL
 * (as they call karmada-webhook). Each route is a path prefix whose last segment is the cluster the call comes
 * from (the webhook configuration in each member names its own cluster in the URL): `/mutate/pods/<cluster>` gives
 * the pods of a migrating workload their checkpoints; the eviction gate of ADR 0004 adds its route beside it.
 */

/** One route: answers an AdmissionReview's request from one cluster. */
export type AdmissionHandler = (cluster: string, req: AdmissionRequest) => Promise<AdmissionResponse>;

export interface AdmissionServerOptions {
  port: number;
  /** PEM files of the serving certificate and its key. */
  certFile: string;
  keyFile: string;
  log: Logger;
  /** Path prefix (ending in /) -> handler. */
  routes: Record<string, AdmissionHandler>;
  /**
   * How often the certificate files are read again: a renewed Secret's files are served from then on, without a
   * restart (members would otherwise see the old one expire, and with failurePolicy Fail no migrating pod could be
   * created). @default 60000
   */
  reloadMs?: number;
  /**
   * PEM file of the CA that signs the client certificates the members' apiservers present (their
   * AdmissionConfiguration's kubeConfigFile, docs/install.md). Set: every route answers only a caller whose
   * certificate that CA signed (403 otherwise; /healthz stays open), so no one else who reaches the URL can use up a
   * Deployment's checkpoints or learn which pods migrate. Read again with the serving certificate.
   */
  clientCaFile?: string;
  /**
   * Binds the path's cluster to the caller's certificate (needs clientCaFile): `cn`, its subject CN must be the
   * cluster; `uri`, a subjectAltName URI `karmada-cluster://<cluster>` must name it. Set, a member's apiserver can
   * only call as its own cluster (403 otherwise): without it, any certificate the client CA signed may call under
   * any cluster's path, so one member could take another's checkpoints or have its pods held.
   */
  clientClusterFrom?: 'cn' | 'uri';
  /** Told of every answer (route, allowed, whether patched), for metrics. */
  onAnswer?: (route: string, outcome: 'patched' | 'unchanged' | 'refused') => void;
}

/** The largest AdmissionReview read: a pod is far smaller; anything bigger is refused, not buffered. */
const MAX_BODY = 3 * 1024 * 1024;

export class AdmissionServer {
  readonly #o: AdmissionServerOptions;
  #server: Server | undefined;
  #served = '';
  #reload: NodeJS.Timeout | undefined;

  constructor(o: AdmissionServerOptions) {
    if (o.clientClusterFrom && !o.clientCaFile)
      throw new Error(
        'clientClusterFrom needs a client CA (clientCaFile): only a verified certificate names a cluster',
      );
    this.#o = o;
  }

  /** Listens; resolves with the port once it does. */
  async start(): Promise<number> {
    const pair = this.#read();
    this.#served = pair.cert + pair.key + (pair.ca ?? '');
    // The client certificate is asked for on every connection but checked per request, so /healthz needs none.
    const clientAuth = this.#o.clientCaFile ? { requestCert: true, rejectUnauthorized: false } : {};
    const server = createServer({ ...pair, ...clientAuth }, (req, res) => {
      // Whatever a request makes throw is that request's 500, never an unhandled rejection that ends the hub.
      this.#serve(req, res).catch((err: unknown) => {
        this.#o.log.warn({ err: describeError(err) }, 'admission request failed');
        if (!res.headersSent) send(res, 500, 'internal error');
        else res.destroy();
      });
    });
    this.#server = server;
    this.#reload = setInterval(() => this.reload(), this.#o.reloadMs ?? 60_000);
    this.#reload.unref();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, () => resolve());
    });
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : this.#o.port;
  }

  /**
   * Serves the certificate files as they are now, when they changed. A pair that does not load (a key that does not
   * match its certificate, caught half-written) keeps the one served, and is tried again at the next reload.
   */
  reload(): void {
    if (!this.#server) return;
    try {
      const pair = this.#read();
      if (pair.cert + pair.key + (pair.ca ?? '') === this.#served) return;
      this.#server.setSecureContext(pair);
      // A new context has new session ticket keys: no session verified under an old client CA is resumed.
      this.#served = pair.cert + pair.key + (pair.ca ?? '');
      this.#o.log.info('admission webhook: serving certificate reloaded');
    } catch (err) {
      this.#o.log.warn(
        { err: describeError(err) },
        'admission webhook: cannot reload the certificate; keeping the served one',
      );
    }
  }

  #read(): { cert: string; key: string; ca?: string } {
    return {
      cert: readFileSync(this.#o.certFile, 'utf8'),
      key: readFileSync(this.#o.keyFile, 'utf8'),
      ...(this.#o.clientCaFile ? { ca: readFileSync(this.#o.clientCaFile, 'utf8') } : {}),
    };
  }

  async stop(): Promise<void> {
    clearInterval(this.#reload);
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://webhook');
    if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, 'ok');
    const refused = callerRefusal(!!this.#o.clientCaFile, req.socket as TLSSocket);
    if (refused) {
      this.#o.log.warn({ remote: req.socket.remoteAddress, why: refused }, 'admission request refused');
      return send(res, 403, `forbidden: ${refused}`);
    }
    const prefix = Object.keys(this.#o.routes).find((p) => url.pathname.startsWith(p));
    const cluster = prefix ? decoded(url.pathname.slice(prefix.length)) : '';
    if (req.method !== 'POST' || !prefix || !cluster || cluster.includes('/'))
      return send(res, 404, 'not found');
    const other = clusterRefusal(
      this.#o.clientClusterFrom,
      (req.socket as TLSSocket).getPeerCertificate(),
      cluster,
    );
    if (other) {
      this.#o.log.warn(
        { remote: req.socket.remoteAddress, cluster, why: other },
        'admission request refused',
      );
      return send(res, 403, `forbidden: ${other}`);
    }
    const review = await readReview(req);
    if (typeof review === 'string') return send(res, 400, review);
    const request = review.request!;
    let response:
      AdmissionResponse | (Omit<AdmissionResponse, 'allowed'> & { allowed: false; status: unknown });
    try {
      response = await this.#o.routes[prefix]!(cluster, request);
      this.#o.onAnswer?.(prefix, response.patch ? 'patched' : 'unchanged');
    } catch (err) {
      // Refused with the reason, so the pod's controller shows it in its Events and tries again: a pod of a
      // migrating workload admitted without its gate or checkpoint could run beside the source or start empty.
      const message = `stateful-migration: cannot answer for this pod yet: ${describeError(err)}`;
      this.#o.log.warn(
        { cluster, namespace: request.namespace, err: describeError(err) },
        'admission failed',
      );
      this.#o.onAnswer?.(prefix, 'refused');
      response = { uid: request.uid, allowed: false, status: { code: 503, message } };
    }
    send(
      res,
      200,
      JSON.stringify({
        apiVersion: review.apiVersion ?? 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response,
      }),
      'application/json',
    );
  }
}

/**
 * Why a caller may not be answered, or undefined: with a client CA configured, only a connection whose client
 * certificate that CA signed (a member's apiserver) is answered; the reason names no secret.
 */
export function callerRefusal(
  required: boolean,
  tls: Pick<TLSSocket, 'authorized' | 'authorizationError' | 'getPeerCertificate'>,
): string | undefined {
  if (!required) return undefined;
  // `authorized` alone is not enough: a TLS 1.3 session resumed from a ticket the server gave a caller without a
  // certificate (any connection gets one, /healthz or a 403) is `authorized` in Node, since no certificate means no
  // verify error. The certificate itself must be there (a session resumed after a verified one carries it).
  const peer = tls.getPeerCertificate();
  if (tls.authorized && peer && Object.keys(peer).length > 0) return undefined;
  return tls.authorizationError
    ? `client certificate not accepted (${String(tls.authorizationError)})`
    : 'a client certificate signed by the configured client CA is required';
}

/** The URI scheme of a subjectAltName naming a member cluster: `karmada-cluster://<name>`. */
const CLUSTER_URI = 'karmada-cluster://';

/**
 * Why a verified caller may not call as `cluster`, or undefined: with `from` set, the certificate must name that very
 * cluster (its subject CN, or a subjectAltName URI karmada-cluster://<cluster>), so a member cannot call as another.
 */
export function clusterRefusal(
  from: 'cn' | 'uri' | undefined,
  peer: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined,
  cluster: string,
): string | undefined {
  if (!from) return undefined;
  const names =
    from === 'cn'
      ? [peer?.subject?.CN ?? []].flat()
      : (peer?.subjectaltname ?? '')
          .split(', ')
          .filter((n) => n.startsWith(`URI:${CLUSTER_URI}`))
          .map((n) => n.slice(`URI:${CLUSTER_URI}`.length));
  if (names.length === 1 && names[0] === cluster) return undefined;
  return from === 'cn'
    ? `the client certificate's CN does not name cluster ${cluster}`
    : `the client certificate has no single subjectAltName URI ${CLUSTER_URI}${cluster}`;
}

/** The AdmissionReview posted, or why it is not one. */
async function readReview(
  req: IncomingMessage,
): Promise<{ apiVersion?: string; request?: AdmissionRequest } | string> {
  let review: { apiVersion?: string; request?: AdmissionRequest };
  try {
    review = JSON.parse(await body(req)) as typeof review;
  } catch (err) {
    return `not an AdmissionReview: ${describeError(err)}`;
  }
  return review.request?.uid ? review : 'an AdmissionReview without a request';
}

/** A path segment percent-decoded, or '' when it is not decodable (thrown here, it would end the process). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

function send(res: ServerResponse, code: number, text: string, type = 'text/plain'): void {
  res.writeHead(code, { 'content-type': type });
  res.end(text);
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`body larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

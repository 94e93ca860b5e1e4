import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join, posix } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Logger, RestClient } from '@stateful-migration/kube';
import type { Pod } from './pods.js';
import { NODE_KUBELET_ROOT, renderLogs, type LogOptions } from './runtime/decisions.js';
import { CheckpointFailure, type NodeRuntime } from './runtime/runtime.js';

const execFileP = promisify(execFile);

/** A pod annotation that makes the stand-in slow, for tests of timeouts: nothing else of a checkpoint is played. */
export const standinAnnotations = {
  /** Milliseconds the node waits before it checkpoints. */
  latencyMs: 'standin.stateful-migration.dev/checkpoint-latency-ms',
} as const;

export interface KubeletOptions {
  nodeName: string;
  /** The node's address (its InternalIP): each node has its own, so every kubelet listens on 10250 as on a cluster. */
  address: string;
  port: number;
  /** The kubelet root on this machine (the node's /var/lib/kubelet); archives go to <root>/checkpoints. */
  rootDir: string;
  tlsCert: string;
  tlsKey: string;
  /** The cluster CA: client certificates it signed authenticate (the apiserver's, for kubectl logs). */
  clientCa: string;
  /** The node's container runtime. */
  runtime: NodeRuntime;
  /**
   * checkpointctl: when given, every archive written is read with `checkpointctl show` before it is handed out, and
   * the verdict appended to <runtime dir>/archives.log, so the e2e suite can tell that every archive it made is one
   * the tool users inspect archives with can read (a test of this stand-in, not something a kubelet does).
   */
  checkpointctl?: string;
  auditLog?: string;
  /** An admin client of the member apiserver, for TokenReview and SubjectAccessReview. */
  client: RestClient;
  /** Finds a pod bound to this node. */
  pod(namespace: string, name: string): Pod | undefined;
  log: Logger;
}

interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

class HttpAnswer extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(body);
  }
}

/** RFC 3339 in local time at second resolution, as the kubelet names archives. */
function localRfc3339(d: Date): string {
  const off = -d.getTimezoneOffset();
  const pad = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60_000).toISOString().slice(0, 19);
  return `${local}${off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.trunc(off / 60))}:${pad(off % 60)}`}`;
}

/**
 * The kubelet's checkpoint endpoint on the stand-in: authentication by TokenReview, authorization by
 * SubjectAccessReview (create nodes/checkpoint), the kubelet's status codes and bodies, and a CRI-O-format archive
 * (0600, in a 0700 directory). A container is checkpointed by one request at a time, as in the runtime.
 */
export class KubeletServer {
  readonly #server: https.Server;
  readonly #busy = new Set<string>();
  readonly checkpointDir: string;

  constructor(private readonly o: KubeletOptions) {
    this.checkpointDir = join(o.rootDir, 'checkpoints');
    mkdirSync(this.checkpointDir, { recursive: true, mode: 0o700 });
    this.#server = https.createServer(
      {
        cert: readFileSync(o.tlsCert),
        key: readFileSync(o.tlsKey),
        ca: readFileSync(o.clientCa),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void this.#handle(req, res),
    );
    // The kubelet's server keeps an idle connection 90 s (IdleTimeout in pkg/kubelet/server), not Node's 5 s.
    this.#server.keepAliveTimeout = 90_000;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.o.port, this.o.address, () => resolve());
    });
  }

  close(): void {
    this.#server.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await this.#route(req, res);
      if (body !== 'streamed')
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    } catch (err) {
      const a = err instanceof HttpAnswer ? err : new HttpAnswer(500, `internal error: ${String(err)}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      res.writeHead(a.code, { 'Content-Type': 'text/plain; charset=utf-8' }).end(a.body);
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<{ items: string[] } | 'streamed'> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const user = await this.#authenticate(req);
    const checkpoint = /^\/checkpoint\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!checkpoint && !logs) throw new HttpAnswer(404, '404 page not found');
    // The kubelet's authorizer: /checkpoint is nodes/checkpoint, everything else (containerLogs too) nodes/proxy.
    const verb = req.method === 'GET' || req.method === 'HEAD' ? 'get' : 'create';
    await this.#authorize(user, verb, checkpoint ? 'checkpoint' : 'proxy');
    const m = (checkpoint ?? logs)!;
    const [namespace, podName, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    if (logs) {
      if (verb !== 'get') throw new HttpAnswer(405, 'Method Not Allowed');
      await this.#logs(res, namespace, podName, container, url.searchParams);
      return 'streamed';
    }
    if (req.method !== 'POST') throw new HttpAnswer(405, 'Method Not Allowed');
    const timeoutParam = url.searchParams.get('timeout');
    if (timeoutParam !== null && !/^-?\d+$/.test(timeoutParam)) throw new HttpAnswer(404, 'bad timeout');
    const id = `${namespace}/${podName}/${container}`;
    if (timeoutParam !== null && Number(timeoutParam) < 0) {
      throw new HttpAnswer(
        500,
        `checkpointing of ${id} failed (rpc error: code = InvalidArgument desc = negative timeout)`,
      );
    }
    const pod = this.o.pod(namespace, podName);
    if (!pod) throw new HttpAnswer(404, 'pod does not exist');
    const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
    const spec = all.find((c) => c.name === container);
    if (!spec) throw new HttpAnswer(404, `container ${container} does not exist`);
    return { items: [await this.#checkpoint(pod, spec.name, Number(timeoutParam ?? 0))] };
  }

  /**
   * The kubelet's containerLogs: the container's CRI log as plain lines (timestamps, tailLines, sinceSeconds,
   * limitBytes, previous), and with follow=true new lines as they come, until the client leaves or the container ends.
   */
  async #logs(
    res: ServerResponse,
    namespace: string,
    podName: string,
    container: string,
    q: URLSearchParams,
  ): Promise<void> {
    const pod = this.o.pod(namespace, podName);
    // The kubelet's own answers (server.go getContainerLogs): both 404, the container looked up in every list.
    if (!pod) throw new HttpAnswer(404, `pod "${podName}" does not exist`);
    if (
      ![...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some(
        (c) => c.name === container,
      )
    )
      throw new HttpAnswer(404, `container "${container}" not found in pod "${podName}"`);
    const rec = this.o.runtime.record(pod.metadata!.uid!, container);
    const previous = q.get('previous') === 'true';
    // As the kubelet picks: --previous is lastState's container, which is the current one while it waits to restart.
    const attempt = !rec ? -1 : previous && rec.running ? rec.attempt - 1 : rec.attempt;
    if (previous && rec && !rec.running && !rec.exited)
      throw new HttpAnswer(400, `previous terminated container "${container}" in pod "${podName}" not found`);
    const file = attempt >= 0 ? this.o.runtime.logPath(pod, container, attempt) : '';
    if (!file || !existsSync(file)) {
      throw new HttpAnswer(
        400,
        previous
          ? `previous terminated container "${container}" in pod "${podName}" not found`
          : `container "${container}" in pod "${podName}" is waiting to start: ContainerCreating`,
      );
    }
    const since = q.get('sinceSeconds');
    const opts: LogOptions = {
      timestamps: q.get('timestamps') === 'true',
      ...(q.get('tailLines') !== null ? { tailLines: Number(q.get('tailLines')) } : {}),
      ...(since !== null ? { sinceMs: Date.now() - Number(since) * 1000 } : {}),
      ...(q.get('limitBytes') !== null ? { limitBytes: Number(q.get('limitBytes')) } : {}),
    };
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    const text = readFileSync(file, 'utf8');
    // Only whole lines: a line conmon is still writing is sent with the next read.
    const cut = text.lastIndexOf('\n') + 1;
    res.write(renderLogs(text.slice(0, cut), opts));
    if (q.get('follow') !== 'true' || previous) {
      res.end();
      return;
    }
    let offset = Buffer.byteLength(text.slice(0, cut));
    const follow = { timestamps: opts.timestamps ?? false };
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = rec && this.o.runtime.record(pod.metadata!.uid!, container);
        let size = offset;
        try {
          size = statSync(file).size;
        } catch {
          /* removed with its pod */
        }
        if (size > offset) {
          const chunk = readFileSync(file).subarray(offset, size);
          const end = chunk.lastIndexOf(0x0a) + 1;
          if (end > 0) {
            res.write(renderLogs(chunk.subarray(0, end).toString(), follow));
            offset += end;
          }
        }
        if (!now || !now.running || now.attempt !== rec?.attempt || res.destroyed) {
          clearInterval(timer);
          res.end();
          resolve();
        }
      }, 250);
      res.on('close', () => {
        clearInterval(timer);
        resolve();
      });
    });
  }

  /**
   * The kubelet's authenticators: a client certificate signed by the cluster CA (the apiserver's, for kubectl logs)
   * gives its CN and O as user and groups; a bearer token is checked with a TokenReview.
   */
  async #audit(path: string): Promise<void> {
    if (!this.o.checkpointctl || !this.o.auditLog) return;
    // Before the answer (the caller may move or delete the archive at once), without blocking the event loop.
    const verdict = await execFileP(this.o.checkpointctl, ['show', path], { timeout: 60_000 }).then(
      () => 'ok',
      (e: { stderr?: string; message?: string }) =>
        `FAIL (${(e.stderr || e.message || '').trim().split('\n').pop()})`,
    );
    appendFileSync(this.o.auditLog, `${verdict} ${path}\n`);
  }

  async #authenticate(req: IncomingMessage): Promise<UserInfo> {
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const cert = socket.getPeerCertificate();
      const subject = cert.subject as unknown as Record<string, string | string[]> | undefined;
      const o = subject?.O;
      if (subject?.CN) return { username: String(subject.CN), groups: o ? [o].flat() : [] };
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) throw new HttpAnswer(401, 'Unauthorized');
    const review = await this.o.client.request<{ status?: { authenticated?: boolean; user?: UserInfo } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
    );
    if (!review.status?.authenticated || !review.status.user) throw new HttpAnswer(401, 'Unauthorized');
    return review.status.user;
  }

  async #authorize(user: UserInfo, verb: string, subresource: string): Promise<void> {
    const sar = await this.o.client.request<{ status?: { allowed?: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: { verb, resource: 'nodes', subresource, name: this.o.nodeName },
          },
        },
      },
    );
    if (!sar.status?.allowed) {
      throw new HttpAnswer(
        403,
        `Forbidden (user=${user.username}, verb=${verb}, resource=nodes, subresource(s)=[${subresource}])`,
      );
    }
  }

  /**
   * The checkpoint itself, by the node's runtime (runc checkpoint --leave-running and CRI-O's archive). One request
   * per container at a time, as in the runtime; the kubelet's 500 wraps the runtime's gRPC error.
   */
  async #checkpoint(pod: Pod, container: string, timeoutSec: number): Promise<string> {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const id = `${ns}/${name}/${container}`;
    const a = pod.metadata?.annotations ?? {};
    const failWith = (desc: string, code = 'Unknown') =>
      new HttpAnswer(500, `checkpointing of ${id} failed (rpc error: code = ${code} desc = ${desc})`);
    if (this.#busy.has(id)) throw failWith(`container ${container} is already being checkpointed`);
    this.#busy.add(id);
    try {
      // A slow runtime, for tests of the agent's timeout: the wait counts against the request's timeout.
      const latency = Number(a[standinAnnotations.latencyMs] ?? 0);
      if (timeoutSec > 0 && latency > timeoutSec * 1000) {
        await new Promise((r) => setTimeout(r, timeoutSec * 1000));
        throw failWith('context deadline exceeded', 'DeadlineExceeded');
      }
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      const now = new Date();
      const path = join(this.checkpointDir, `checkpoint-${name}_${ns}-${container}-${localRfc3339(now)}.tar`);
      try {
        await this.o.runtime.checkpoint(pod, container, path, timeoutSec);
      } catch (err) {
        if (err instanceof CheckpointFailure) throw failWith(err.desc, err.code);
        throw err;
      }
      this.o.log.info({ pod: `${ns}/${name}`, container }, 'checkpoint written');
      await this.#audit(path);
      // The node's path, as a kubelet with the default --root-dir answers: the file is where a pod mounting
      // /var/lib/kubelet/checkpoints (hostPathOnNode) or an agent reading the node's root finds it, not this machine's path.
      return posix.join(NODE_KUBELET_ROOT, 'checkpoints', basename(path));
    } finally {
      this.#busy.delete(id);
    }
  }
}

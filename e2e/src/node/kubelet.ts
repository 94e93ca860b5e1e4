import { mkdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { writeArchive } from '@stateful-migration/archive';
import type { Logger, RestClient } from '@stateful-migration/kube';
import type { Pod } from './pods.js';

/** Pod annotations that steer the stand-in runtime, for tests and benchmarks. */
export const standinAnnotations = {
  /** Bytes of memory pages in each archive. Default 1 MiB. */
  memoryBytes: 'standin.stateful-migration.dev/checkpoint-memory-bytes',
  /** Milliseconds the runtime takes per checkpoint. */
  latencyMs: 'standin.stateful-migration.dev/checkpoint-latency-ms',
  /** Make the runtime fail: "unimplemented" (no CRIU support) or "error". */
  fail: 'standin.stateful-migration.dev/checkpoint-fail',
} as const;

export interface KubeletOptions {
  nodeName: string;
  port: number;
  /** The kubelet root; archives go to <root>/checkpoints. */
  rootDir: string;
  tlsCert: string;
  tlsKey: string;
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
      { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) },
      (req, res) => void this.#handle(req, res),
    );
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.o.port, '127.0.0.1', () => resolve());
    });
  }

  close(): void {
    this.#server.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await this.#route(req);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    } catch (err) {
      const a = err instanceof HttpAnswer ? err : new HttpAnswer(500, `internal error: ${String(err)}`);
      res.writeHead(a.code, { 'Content-Type': 'text/plain; charset=utf-8' }).end(a.body);
    }
  }

  async #route(req: IncomingMessage): Promise<{ items: string[] }> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const user = await this.#authenticate(req);
    const m = /^\/checkpoint\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) throw new HttpAnswer(404, '404 page not found');
    await this.#authorize(user);
    if (req.method !== 'POST') throw new HttpAnswer(405, 'Method Not Allowed');
    const [namespace, podName, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
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
    return { items: [await this.#checkpoint(pod, spec.name, spec.image, Number(timeoutParam ?? 0))] };
  }

  async #authenticate(req: IncomingMessage): Promise<UserInfo> {
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

  async #authorize(user: UserInfo): Promise<void> {
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
            resourceAttributes: {
              verb: 'create',
              resource: 'nodes',
              subresource: 'checkpoint',
              name: this.o.nodeName,
            },
          },
        },
      },
    );
    if (!sar.status?.allowed) {
      throw new HttpAnswer(
        403,
        `Forbidden (user=${user.username}, verb=create, resource=nodes, subresource(s)=[checkpoint])`,
      );
    }
  }

  async #checkpoint(pod: Pod, container: string, image: string, timeoutSec: number): Promise<string> {
    const ns = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const id = `${ns}/${name}/${container}`;
    const a = pod.metadata?.annotations ?? {};
    const failWith = (desc: string, code = 'Unknown') =>
      new HttpAnswer(500, `checkpointing of ${id} failed (rpc error: code = ${code} desc = ${desc})`);
    if (a[standinAnnotations.fail] === 'unimplemented') {
      throw failWith('checkpoint/restore support not available', 'Unimplemented');
    }
    if (a[standinAnnotations.fail] === 'error') throw failWith('CRIU dump failed: injected failure');
    if (this.#busy.has(id)) throw failWith(`container ${container} is already being checkpointed`);
    this.#busy.add(id);
    try {
      const latency = Number(a[standinAnnotations.latencyMs] ?? 0);
      if (timeoutSec > 0 && latency > timeoutSec * 1000) {
        await new Promise((r) => setTimeout(r, timeoutSec * 1000));
        throw failWith('context deadline exceeded', 'DeadlineExceeded');
      }
      if (latency > 0) await new Promise((r) => setTimeout(r, latency));
      const now = new Date();
      const path = join(this.checkpointDir, `checkpoint-${name}_${ns}-${container}-${localRfc3339(now)}.tar`);
      await writeArchive(path, {
        containerName: container,
        podName: name,
        namespace: ns,
        rootfsImageName: image,
        memoryBytes: Number(a[standinAnnotations.memoryBytes] ?? 1 << 20),
        now,
      });
      this.o.log.info({ pod: `${ns}/${name}`, container }, 'checkpoint written');
      return path;
    } finally {
      this.#busy.delete(id);
    }
  }
}

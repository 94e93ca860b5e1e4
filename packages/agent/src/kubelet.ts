import { readFileSync } from 'node:fs';
import https from 'node:https';
import { text } from 'node:stream/consumers';

export interface KubeletClientOptions {
  /** NODE_IP from the downward API. */
  address: string;
  /** @default 10250 */
  port?: number;
  /** Reads the service account token for each call, so a rotated token is picked up. */
  token: () => string;
  /** CA bundle that signed the kubelet's serving certificate. */
  caFile?: string;
  /** Skip verification of the kubelet's certificate. Needs an explicit flag; the agent logs a warning. */
  insecureSkipVerify?: boolean;
}

/** Why a checkpoint call failed, in words a user can act on. `reason` is a stable code for Events and metrics. */
export class CheckpointError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    /** Worth retrying without a change by the user. */
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** Maps a kubelet answer to a CheckpointError (see shared/reference/checkpoint-facts.md). */
export function explainKubeletAnswer(
  code: number,
  body: string,
  target: string,
  nodeName: string,
): CheckpointError {
  const said = body.trim().slice(0, 300);
  switch (code) {
    case 401:
      return new CheckpointError(
        'KubeletUnauthorized',
        `kubelet refused the agent's token (401) for ${target}: check that the agent's service account token is mounted and valid`,
        false,
      );
    case 403:
      return new CheckpointError(
        'KubeletForbidden',
        `kubelet denied the checkpoint of ${target} (403: ${said}): grant the agent's service account "create" on "nodes/checkpoint" (see deploy/rbac.yaml)`,
        false,
      );
    case 404:
      return new CheckpointError(
        'KubeletNotFound',
        `kubelet on ${nodeName} has no ${target} (404: ${said})`,
        false,
      );
    default:
      if (/Unimplemented|not available|CRIU binary not found/i.test(said)) {
        return new CheckpointError(
          'CheckpointUnsupported',
          `the container runtime on ${nodeName} cannot checkpoint (${said}): enable CRIU support in CRI-O (checkpoint_restore) and the ContainerCheckpoint feature gate`,
          false,
        );
      }
      // The runtime serialises checkpoints per container (checkpoint-facts.md): one is in flight, often the request
      // of this agent's previous process (killed or rolled mid-run), whose archive the run adopts once it is written.
      if (/already being checkpointed/i.test(said)) {
        return new CheckpointError(
          'CheckpointInProgress',
          `the runtime on ${nodeName} is already checkpointing ${target} (a request of an earlier agent process, or ` +
            'another tool): waiting for it to finish',
          true,
        );
      }
      if (/DeadlineExceeded|deadline/i.test(said)) {
        return new CheckpointError(
          'CheckpointTimeout',
          `checkpoint of ${target} timed out in the runtime (${said})`,
          true,
        );
      }
      return new CheckpointError(
        'CheckpointFailed',
        `kubelet failed to checkpoint ${target} (${code}: ${said})`,
        true,
      );
  }
}

/** The kubelet's checkpoint API, called directly on the node (nodes/checkpoint, not the broader nodes/proxy). */
export class KubeletClient {
  readonly #agent: https.Agent;

  constructor(
    private readonly o: KubeletClientOptions,
    private readonly nodeName: string,
  ) {
    // A new connection per checkpoint (TLS sessions are still resumed): a POST sent on a kept-alive socket the kubelet
    // closes at its idle limit meets ECONNRESET, and a checkpoint request is not one to send twice. Checkpoints are
    // seconds apart at most per node, so a kept socket saves nothing that matters (CI lost a Migrate to this).
    this.#agent = new https.Agent({
      keepAlive: false,
      ...(o.caFile ? { ca: readFileSync(o.caFile) } : {}),
      rejectUnauthorized: !o.insecureSkipVerify,
    });
  }

  /** Returns the archive path the kubelet wrote. */
  checkpoint(namespace: string, pod: string, container: string, timeoutSeconds: number): Promise<string> {
    const target = `${namespace}/${pod}/${container}`;
    const path = `/checkpoint/${encodeURIComponent(namespace)}/${encodeURIComponent(pod)}/${encodeURIComponent(container)}?timeout=${timeoutSeconds}`;
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.o.address,
          port: this.o.port ?? 10250,
          path,
          method: 'POST',
          agent: this.#agent,
          headers: { Authorization: `Bearer ${this.o.token()}` },
          timeout: (timeoutSeconds + 30) * 1000,
        },
        (res) => {
          text(res).then((body) => {
            const code = res.statusCode ?? 0;
            if (code !== 200) return reject(explainKubeletAnswer(code, body, target, this.nodeName));
            try {
              const items = (JSON.parse(body) as { items?: unknown[] }).items ?? [];
              if (items.length !== 1) throw new Error(`expected one archive, got ${items.length}`);
              // A path, not yet a trusted one: the controller confines it to the checkpoint directory.
              if (typeof items[0] !== 'string' || !items[0])
                throw new Error('the archive path is not a string');
              resolve(items[0]);
            } catch (err) {
              reject(
                new CheckpointError(
                  'KubeletBadAnswer',
                  `kubelet answered 200 for ${target} without one archive path: ${String(err)}`,
                  true,
                ),
              );
            }
          }, reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer in time')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const tls = /certificate|self.signed|unable to verify/i.test(err.message);
        reject(
          new CheckpointError(
            tls ? 'KubeletTLS' : 'KubeletUnreachable',
            tls
              ? `cannot verify the kubelet's serving certificate on ${this.o.address}:${this.o.port ?? 10250} (${err.message}): set --kubelet-ca to the CA that signed it`
              : `kubelet on ${this.o.address}:${this.o.port ?? 10250} unreachable (${err.code ?? err.message})`,
            !tls,
          ),
        );
      });
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** A token reader for the mounted service account token (re-read on every call). */
export const fileToken = (path: string) => (): string => readFileSync(path, 'utf8').trim();

/** An in-memory apiserver for the agent controller's unit tests: GET, PUT status, PATCH, POST events, DELETE. */
import { HttpError, type Logger, type RestClient } from '@stateful-migration/kube';

export class FakeApi {
  readonly objects = new Map<string, Record<string, unknown>>();
  readonly events: { reason: string; message: string; type: string }[] = [];
  readonly deleted: string[] = [];
  #rv = 1;

  put(path: string, obj: Record<string, unknown>): void {
    this.objects.set(path, structuredClone(obj));
  }

  get<T>(path: string): T {
    return this.#get(path) as T;
  }

  #get(path: string): Record<string, unknown> {
    if (path === '/api/v1/nodes') return { items: [] };
    const o = this.objects.get(path);
    if (!o) throw new HttpError(404, `${path} not found`);
    return structuredClone(o);
  }

  /** The RestClient the controller gets. */
  client(): RestClient {
    const api = {
      get: async (path: string) => this.#get(path),
      request: async (method: string, path: string, opts: { body?: unknown } = {}) => {
        const body = opts.body as Record<string, unknown> & {
          reason?: string;
          message?: string;
          type?: string;
        };
        if (method === 'POST' && path.endsWith('/events')) {
          this.events.push({ reason: body.reason!, message: body.message!, type: body.type! });
          return body;
        }
        if (method === 'PUT' && path.endsWith('/status')) {
          const key = path.slice(0, -'/status'.length);
          const stored: Record<string, unknown> = { ...this.#get(key), status: body.status };
          (stored.metadata as Record<string, unknown>).resourceVersion = String(++this.#rv);
          this.objects.set(key, stored);
          return structuredClone(stored);
        }
        if (method === 'PATCH') {
          const cur = this.#get(path);
          const meta = (body.metadata ?? {}) as Record<string, unknown>;
          cur.metadata = { ...(cur.metadata as object), ...meta, resourceVersion: String(++this.#rv) };
          this.objects.set(path, cur);
          return structuredClone(cur);
        }
        if (method === 'DELETE') {
          this.deleted.push(path);
          this.objects.delete(path);
          return {};
        }
        throw new Error(`FakeApi: ${method} ${path} not supported`);
      },
    };
    return api as unknown as RestClient;
  }
}

/** A logger that keeps warnings, for assertions, and drops the rest. */
export function quietLog(warnings: { msg: string; o: unknown }[] = []): Logger {
  const log = {
    warn: (o: unknown, msg?: string) => warnings.push({ msg: msg ?? String(o), o }),
    info: () => undefined,
    debug: () => undefined,
    error: () => undefined,
    child: () => log,
  };
  return log as unknown as Logger;
}

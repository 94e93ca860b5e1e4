import { HttpError, type RequestOptions, type RestClient, type WatchEvent } from '../rest.js';

/** Collections the store knows by their last path segment: a GET there lists, anything else is one object. */
const COLLECTIONS = new Set([
  'checkpointbackups',
  'checkpointrestores',
  'clusterpropagationpolicies',
  'clusters',
  'deployments',
  'events',
  'leases',
  'mutatingwebhookconfigurations',
  'nodes',
  'pods',
  'propagationpolicies',
  'resourcebindings',
  'rolebindings',
  'roles',
  'secrets',
  'statefulsets',
  'works',
]);

type Obj = Record<string, unknown> & {
  metadata?: Record<string, unknown> & {
    name?: string;
    resourceVersion?: string;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
};

/** One request the client made, in order: what a test asserts a controller did. */
export interface MemoryCall {
  method: string;
  path: string;
  body?: unknown;
}

/** A reply that takes precedence over the store: an object, or an HttpError to throw. */
export type MemoryRoute = (method: string, path: string, body: unknown) => unknown;

/**
 * An in-memory apiserver behind a RestClient's get, request and watch, for controller tests: objects by path;
 * a GET on a collection lists it (across namespaces from a cluster-wide path); POST creates (409 when the name is
 * taken, generateName honoured); PUT replaces (`/status` only the status) and PATCH merges (RFC 7386), both 409
 * on a stale metadata.resourceVersion; `/scale` reads and writes spec.replicas; DELETE sets deletionTimestamp while finalizers remain, and a PATCH that
 * releases the last one deletes. Watches see every change. `calls` records every request in order.
 */
export class MemoryApi {
  readonly calls: MemoryCall[] = [];
  readonly #objects = new Map<string, Obj>();
  readonly #watchers = new Set<{
    collection: string;
    selects: (o: Obj) => boolean;
    onEvent: (e: WatchEvent<Obj>) => void;
  }>();
  #rv = 1;
  #uid = 1;
  /** Answers before the store (e.g. the cluster proxy, or a failure to inject); undefined: the store answers. */
  route: MemoryRoute | undefined;
  /** Watch events of paths that match, held back (an informer that is behind) until `deliver` is called. */
  readonly #held: { match: RegExp; events: (() => void)[] }[] = [];

  /**
   * Holds back the watch events of every path `match` matches, as a watch that has not delivered them yet; the
   * returned function delivers them, in order, and stops holding.
   */
  holdWatches(match: RegExp): () => void {
    const held = { match, events: [] as (() => void)[] };
    this.#held.push(held);
    return () => {
      this.#held.splice(this.#held.indexOf(held), 1);
      for (const e of held.events) queueMicrotask(e);
    };
  }

  /** Stores an object as it is (a resourceVersion and uid are added when missing). */
  put(path: string, obj: object): void {
    const o = structuredClone(obj) as Obj;
    o.metadata = { uid: `uid-${this.#uid++}`, ...o.metadata, resourceVersion: String(++this.#rv) };
    const old = this.#objects.get(path);
    this.#objects.set(path, o);
    this.#notify(old ? 'MODIFIED' : 'ADDED', path, o, old);
  }

  /** The object stored at path, if any (a copy). */
  object<T = Obj>(path: string): T | undefined {
    const o = this.#objects.get(path);
    return o ? (structuredClone(o) as T) : undefined;
  }

  /** Every path stored. */
  paths(): string[] {
    return [...this.#objects.keys()];
  }

  /** The writes made so far, as "METHOD path", Events left out unless asked for. */
  writes({ events = false } = {}): string[] {
    return this.calls
      .filter((c) => c.method !== 'GET' && (events || !c.path.endsWith('/events')))
      .map((c) => `${c.method} ${c.path}`);
  }

  /** The Events recorded, as "type reason: message". */
  events(): string[] {
    return [...this.#objects.entries()]
      .filter(([p]) => /\/events\/[^/]+$/.test(p))
      .map(([, e]) => `${String(e.type)} ${String(e.reason)}: ${String(e.message)}`);
  }

  /** Forgets the calls recorded so far. */
  resetCalls(): void {
    this.calls.length = 0;
  }

  /** The RestClient a controller gets. */
  client(): RestClient {
    const api = {
      get: (path: string, opts: RequestOptions = {}) => this.request('GET', path, opts),
      request: (method: string, path: string, opts: RequestOptions = {}) => this.request(method, path, opts),
      watch: (
        path: string,
        q: { labelSelector?: string } | undefined,
        onEvent: (e: WatchEvent<Obj>) => void,
        signal: AbortSignal,
      ) =>
        new Promise<void>((resolve) => {
          const w = { collection: path, selects: labelsMatch(q?.labelSelector), onEvent };
          this.#watchers.add(w);
          const end = () => {
            this.#watchers.delete(w);
            resolve();
          };
          if (signal.aborted) end();
          else signal.addEventListener('abort', end, { once: true });
        }),
    };
    return api as unknown as RestClient;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<unknown> {
    this.calls.push({
      method,
      path,
      ...(opts.body !== undefined ? { body: structuredClone(opts.body) } : {}),
    });
    await Promise.resolve();
    const routed = this.route?.(method, path, opts.body);
    if (routed instanceof Error) throw routed;
    if (routed !== undefined) return structuredClone(routed);
    if (path.endsWith('/scale'))
      return this.#scale(method, path.slice(0, -'/scale'.length), opts.body as Obj);
    switch (method) {
      case 'GET':
        return this.#get(path, opts.query?.labelSelector);
      case 'POST':
        return this.#create(path, opts.body as Obj);
      case 'PUT':
        return this.#replace(path, opts.body as Obj);
      case 'PATCH':
        return this.#patch(path, opts.body as Obj);
      case 'DELETE':
        return this.#delete(path, opts.body as { preconditions?: { uid?: string } } | undefined);
    }
    throw new Error(`MemoryApi: ${method} not supported`);
  }

  #get(path: string, labelSelector: unknown): unknown {
    const last = path.slice(path.lastIndexOf('/') + 1);
    if (!COLLECTIONS.has(last)) return structuredClone(this.#stored(path));
    const selects = labelsMatch(labelSelector === undefined ? undefined : String(labelSelector));
    const items = [...this.#objects.entries()]
      .filter(([p, o]) => inCollection(p, path) && selects(o))
      .map(([, o]) => o);
    return structuredClone({ metadata: { resourceVersion: String(this.#rv) }, items });
  }

  #stored(path: string): Obj {
    const o = this.#objects.get(path);
    if (!o) throw new HttpError(404, `HTTP 404: ${path} not found`, 'NotFound');
    return o;
  }

  #create(collection: string, body: Obj): Obj {
    checkLabels(body);
    const meta = body.metadata ?? {};
    const name = meta.name ?? `${String(meta.generateName ?? 'object-')}${this.#uid}`;
    // The apiserver's check of a name (a DNS-1123 subdomain, at most 253): a derived name cut on `-` is refused.
    if (name.length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name))
      throw new HttpError(
        422,
        `HTTP 422: metadata.name: Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower ` +
          "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        'Invalid',
      );
    const path = `${collection}/${name}`;
    if (this.#objects.has(path))
      throw new HttpError(409, `HTTP 409: ${path} already exists`, 'AlreadyExists');
    this.put(path, {
      ...body,
      metadata: { ...meta, name, creationTimestamp: new Date().toISOString() },
    });
    return this.object(path)!;
  }

  #replace(path: string, body: Obj): Obj {
    const status = path.endsWith('/status');
    const at = status ? path.slice(0, -'/status'.length) : path;
    const cur = this.#stored(at);
    this.#precondition(at, cur, body.metadata?.resourceVersion);
    if (!status) checkLabels(body);
    const next = status
      ? { ...cur, status: body.status }
      : { ...body, ...(cur.status ? { status: cur.status } : {}) };
    this.put(at, { ...next, metadata: { ...next.metadata, uid: cur.metadata?.uid } });
    return this.object(at)!;
  }

  #patch(path: string, body: Obj): Obj {
    const cur = this.#stored(path);
    this.#precondition(path, cur, body.metadata?.resourceVersion);
    const next = merge(cur, body) as Obj;
    checkLabels(next);
    const meta = next.metadata ?? {};
    if (meta.deletionTimestamp && !meta.finalizers?.length) {
      this.#objects.delete(path);
      this.#notify('DELETED', path, next, cur);
      return next;
    }
    this.put(path, next);
    return this.object(path)!;
  }

  #delete(
    path: string,
    options: { preconditions?: { uid?: string; resourceVersion?: string } } | undefined,
  ): Obj {
    const cur = this.#stored(path);
    const uid = options?.preconditions?.uid;
    if (uid && uid !== cur.metadata?.uid)
      throw new HttpError(409, `HTTP 409: uid precondition failed`, 'Conflict');
    const rv = options?.preconditions?.resourceVersion;
    if (rv && rv !== cur.metadata?.resourceVersion)
      throw new HttpError(409, `HTTP 409: resourceVersion precondition failed`, 'Conflict');
    if (cur.metadata?.finalizers?.length) {
      if (!cur.metadata.deletionTimestamp)
        this.put(path, {
          ...cur,
          metadata: { ...cur.metadata, deletionTimestamp: new Date().toISOString() },
        });
      return this.object(path)!;
    }
    this.#objects.delete(path);
    this.#notify('DELETED', path, cur, cur);
    return cur;
  }

  /** A workload's scale subresource: spec.replicas of the object, read or written. */
  #scale(method: string, at: string, body: Obj | undefined): unknown {
    const cur = this.#stored(at);
    if (method !== 'GET') {
      const replicas = (body?.spec as { replicas?: number } | undefined)?.replicas;
      this.put(at, { ...cur, spec: { ...(cur.spec as object), replicas } });
    }
    const replicas = (this.#stored(at).spec as { replicas?: number } | undefined)?.replicas;
    return { kind: 'Scale', metadata: { name: cur.metadata?.name }, spec: { replicas } };
  }

  #precondition(path: string, cur: Obj, rv: unknown): void {
    if (rv !== undefined && rv !== cur.metadata?.resourceVersion)
      throw new HttpError(409, `HTTP 409: ${path} has been modified`, 'Conflict');
  }

  /**
   * Tells the watches of the object's collection. A watch with a label selector is told as the apiserver tells it:
   * an object that comes to match is ADDED, one that stops matching is DELETED, one that never matched is not told.
   */
  #notify(type: WatchEvent<Obj>['type'], path: string, o: Obj, old?: Obj): void {
    for (const w of this.#watchers)
      if (inCollection(path, w.collection)) {
        const was = old !== undefined && w.selects(old);
        const is = type !== 'DELETED' && w.selects(o);
        if (!was && !is) continue;
        const seen: WatchEvent<Obj>['type'] = !is ? 'DELETED' : !was ? 'ADDED' : 'MODIFIED';
        const object = structuredClone(o);
        const deliver = () => w.onEvent({ type: seen, object });
        const held = this.#held.find((h) => h.match.test(path));
        if (held) held.events.push(deliver);
        else queueMicrotask(deliver);
      }
  }
}

/**
 * A label selector's test, for the equality-based forms the controllers use: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
 * joined by commas. None: everything matches.
 */
function labelsMatch(selector: string | undefined): (o: Obj) => boolean {
  // Set-based terms (`k in (a,b)`, `k notin (a)`) would be cut at their commas below: refused, not misread.
  if (/\(|\s(in|notin)\s/.test(selector ?? ''))
    throw new Error(`MemoryApi: set-based label selector ${selector} not supported`);
  const terms = (selector ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      const m = /^(!?)([^!=]+?)\s*(?:(!=|==|=)\s*(.*))?$/.exec(t);
      if (!m) throw new Error(`MemoryApi: label selector term ${t} not supported`);
      const [, not, key, op, value] = m as unknown as [string, string, string, string | undefined, string];
      return (labels: Record<string, string>) => {
        if (op === undefined) return Object.hasOwn(labels, key) !== (not === '!');
        return op === '!=' ? labels[key] !== value : labels[key] === value;
      };
    });
  return (o) => {
    const labels = (o.metadata?.labels ?? {}) as Record<string, string>;
    return terms.every((t) => t(labels));
  };
}

/** Whether the object at `path` is an item of `collection`, directly or through a cluster-wide path. */
function inCollection(path: string, collection: string): boolean {
  const parent = path.slice(0, path.lastIndexOf('/'));
  return parent === collection || parent.replace(/\/namespaces\/[^/]+(?=\/[^/]+$)/, '') === collection;
}

/** JSON merge patch (RFC 7386): objects merge, null deletes, anything else replaces. */
function merge(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/**
 * The apiserver's check of label values (apimachinery validation.IsValidLabelValue): at most 63 characters of
 * [A-Za-z0-9._-], starting and ending alphanumeric, or empty. A write breaking it is refused with 422 Invalid, as
 * the real apiserver does, so a controller that would label an object with a long name fails its tests here.
 */
function checkLabels(o: Obj): void {
  const labels = (o.metadata?.labels ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(labels)) {
    if (v === null) continue; // a merge patch removing the label
    const value = String(v);
    if (value.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value))
      throw new HttpError(
        422,
        `HTTP 422: metadata.labels: Invalid value: "${value}": a valid label must be 63 characters or less ` +
          `and begin and end with an alphanumeric character (label ${k})`,
        'Invalid',
      );
  }
}

import {
  DECRYPTION_KEYS_ANNOTATION,
  UNKNOWN_SETTING,
  type CheckpointRestoreSetting,
  type PublishedSetting,
} from '@stateful-migration/api';
import {
  describeError,
  statusCode,
  type Informer,
  type Logger,
  type RestClient,
} from '@stateful-migration/kube';
import { keysAnnotationPatch, type NodeKeys } from './node-keys.js';
import { CHECKPOINT_RESTORE_LABEL, labelPatch, readCrioCheckpointRestore } from './runtime-setting.js';

export interface RuntimePublisherOptions {
  client: RestClient;
  /** This agent's Node. */
  node: string;
  log: Logger;
  /** The node's root as mounted in the agent (the DaemonSet mounts the host's /etc/crio under it, read-only). */
  hostRoot: string;
  /** @default 60000 */
  intervalMs?: number;
  /** Reads the runtime's setting; the default reads CRI-O's configuration under hostRoot. */
  read?: (hostRoot: string) => Promise<CheckpointRestoreSetting | undefined>;
  /**
   * The agent's Node informer: the label is read from its cache, and a change of this Node (a label changed by
   * hand) starts a round at once. Without it (or before it has synced), each round reads the Node.
   */
  nodes?: Pick<Informer<Node>, 'get' | 'hasSynced' | 'on'>;
  /**
   * Reads the node's decryption keys (node-keys.ts, readNodeDecryptionKeys); with it, their thumbprints are published
   * as the Node annotation migration.dcnlab.com/decryption-keys in the same round. Without it, nothing is.
   */
  readKeys?: (hostRoot: string) => Promise<NodeKeys>;
}

type Node = {
  metadata: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
};

/**
 * Publishes what this node's runtime allows as the Node label `migration.dcnlab.com/checkpoint-restore`, at start and
 * every minute (a node admin may change CRI-O's configuration at any time). The Node's label is compared each time,
 * from the agent's Node cache (no request), and a change of the Node starts a round, so a label changed by hand is
 * put back at once. Nothing here stops the agent: a refused read or patch is a warning (once
 * per distinct problem, not every minute), and the next round tries again.
 */
export class RuntimePublisher {
  readonly #o: Required<Omit<RuntimePublisherOptions, 'readKeys' | 'nodes'>> &
    Pick<RuntimePublisherOptions, 'readKeys' | 'nodes'>;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #running = false;
  #again = false;
  /** The warnings of the previous round and of this one: a problem that persists is logged once. */
  #warned = { previous: new Set<string>(), now: new Set<string>() };

  constructor(o: RuntimePublisherOptions) {
    this.#o = { intervalMs: 60_000, read: readCrioCheckpointRestore, ...o };
  }

  /**
   * One round now, then one every interval after the previous one ended, and one as soon as this Node changes
   * (rounds never overlap; a change during a round gives one more).
   */
  start(): void {
    this.#o.nodes?.on((_e, n) => (n.metadata.name === this.#o.node ? this.#schedule(0) : undefined));
    void this.#tick();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms).unref();
  }

  async #tick(): Promise<void> {
    this.#running = true;
    try {
      await this.publish();
    } finally {
      this.#running = false;
    }
    const again = this.#again;
    this.#again = false;
    this.#schedule(again ? 0 : this.#o.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Reads the setting and labels the Node when the label differs; returns what it published, if it did. */
  async publish(): Promise<PublishedSetting | undefined> {
    try {
      return await this.#round();
    } finally {
      this.#warned = { previous: this.#warned.now, now: new Set() };
    }
  }

  async #round(): Promise<PublishedSetting | undefined> {
    const { client, node, log } = this.#o;
    const desired = await this.#setting();
    const path = `/api/v1/nodes/${node}`;
    let current: string | undefined;
    try {
      const cached = this.#o.nodes?.hasSynced() ? this.#o.nodes.get(node) : undefined;
      const read = cached ?? (await client.get<Node>(path));
      current = read.metadata.labels?.[CHECKPOINT_RESTORE_LABEL];
      await this.#publishKeys(read.metadata.annotations?.[DECRYPTION_KEYS_ANNOTATION]);
    } catch (err) {
      this.#warn(`cannot read Node ${node} to publish its runtime's checkpoint/restore setting: ${why(err)}`);
      return undefined;
    }
    const patch = labelPatch(current, desired);
    if (!patch) return undefined;
    try {
      await client.request('PATCH', path, { body: patch });
    } catch (err) {
      this.#warn(
        `cannot label Node ${node} ${CHECKPOINT_RESTORE_LABEL}=${desired}: ${why(err)}; restores cannot tell ` +
          'whether this node allows them',
      );
      return undefined;
    }
    log.info(
      { label: CHECKPOINT_RESTORE_LABEL, from: current ?? null, to: desired },
      `node ${node}: runtime checkpoint/restore setting ${current ?? '(unpublished)'} -> ${desired}`,
    );
    return desired;
  }

  /**
   * The thumbprints of the node's decryption keys as the Node annotation, patched only when they differ. A keys
   * directory that cannot be read publishes none (a restore is then refused rather than failing at the pull), with a
   * warning; an unusable file in it is named in a warning (CRI-O would fail every encrypted pull because of it).
   */
  async #publishKeys(current: string | undefined): Promise<void> {
    if (!this.#o.readKeys) return;
    const { client, node, log } = this.#o;
    let keys: NodeKeys | undefined;
    try {
      keys = await this.#o.readKeys(this.#o.hostRoot);
      for (const u of keys.unusable)
        this.#warn(
          `decryption key file ${u.file} of this node is not usable: ${u.why}; CRI-O cannot use it either`,
        );
    } catch (err) {
      this.#warn(`cannot read the node's decryption keys: ${describeError(err)}; publishing none`);
    }
    const fingerprints = keys?.fingerprints ?? [];
    const patch = keysAnnotationPatch(current, fingerprints);
    if (!patch) return;
    try {
      await client.request('PATCH', `/api/v1/nodes/${node}`, { body: patch });
    } catch (err) {
      this.#warn(
        `cannot annotate Node ${node} ${DECRYPTION_KEYS_ANNOTATION}: ${why(err)}; restores of encrypted ` +
          'checkpoints cannot tell whether this node can decrypt them',
      );
      return;
    }
    log.info(
      { annotation: DECRYPTION_KEYS_ANNOTATION, keys: fingerprints },
      `node ${node}: ${fingerprints.length} decryption key(s) in ${keys?.path ?? 'its keys directory'} published`,
    );
  }

  /** The runtime's setting, or unknown (with a warning saying why) when it cannot be told. */
  async #setting(): Promise<PublishedSetting> {
    try {
      const s = await this.#o.read(this.#o.hostRoot);
      if (s) return s;
      this.#warn(
        `no CRI-O configuration under ${this.#o.hostRoot} (etc/crio/crio.conf, etc/crio/crio.conf.d/*.conf): ` +
          `publishing ${UNKNOWN_SETTING}; mount the host's /etc/crio there (deploy/daemonset.yaml) on a CRI-O node`,
      );
    } catch (err) {
      this.#warn(`cannot read CRI-O's configuration: ${describeError(err)}; publishing ${UNKNOWN_SETTING}`);
    }
    return UNKNOWN_SETTING;
  }

  #warn(message: string): void {
    this.#warned.now.add(message);
    if (!this.#warned.previous.has(message)) this.#o.log.warn(message);
  }
}

/** The apiserver's refusal, with what to grant when it is RBAC's. */
function why(err: unknown): string {
  const d = describeError(err);
  return statusCode(err) === 403 ? `${d} (deploy/rbac.yaml grants the agent get and patch on nodes)` : d;
}

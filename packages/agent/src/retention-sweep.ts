import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  API_GROUP,
  PLURAL,
  isFinished,
  pinnedImages,
  podNamespace,
  setCondition,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type Condition,
  type RetentionPolicy,
  isWorkloadBackup,
  podName,
} from '@stateful-migration/api';
import { readArchiveInfo, type ArchiveInfo } from '@stateful-migration/archive';
import { getOrUndefined, type Logger, type RestClient } from '@stateful-migration/kube';
import { deleteManifest, describeTag, listTags, type RegistryClient } from '@stateful-migration/registry';
import { CommandTimeout } from './command.js';
import { confineArchive } from './confine.js';
import {
  CHECKPOINTED_TIME_ANNOTATION,
  buildah,
  buildahImageFailure,
  splitImageName,
  type BuildahStorage,
} from './image.js';
import type { AgentMetrics } from './metrics.js';
import { runImages } from './plan.js';
import {
  checkpointKey,
  decideRetention,
  describeItem,
  type Deletion,
  type Finding,
  type Pin,
  type RetentionItem,
  type ScopedPolicy,
  type Store,
} from './retention.js';

export const RETENTION_CONDITION = 'RetentionSatisfied';

export interface SweepDeps {
  node: string;
  client: RestClient;
  log: Logger;
  storage: BuildahStorage;
  checkpointDir: string;
  /** The agent-wide policy (flags). */
  defaults: RetentionPolicy;
  metrics: AgentMetrics;
  /** Whether this agent answers for the object: its runs happen on this node. */
  responsible: (b: CheckpointBackup) => boolean;
  /**
   * Whether the object may act at all (issue 11). A refused one counts for nothing here: its spec.retention and pins
   * would act on another namespace's checkpoints, and its registry would get the platform's credentials.
   */
  admitted: (b: CheckpointBackup) => boolean;
  registryClient: (b: CheckpointBackup) => Promise<RegistryClient>;
  /** The cluster's objects from the agent's cache; without it, each sweep lists them from the apiserver. */
  backups?: () => CheckpointBackup[];
  /** Whether the agent's cache of this node's pods holds this pod (a pod elsewhere is asked of the apiserver). */
  podHere?: (namespace: string, name: string) => boolean;
  writeStatus: (
    b: CheckpointBackup,
    next: (s: CheckpointBackupStatus) => CheckpointBackupStatus | undefined,
  ) => Promise<CheckpointBackup>;
  event: (b: CheckpointBackup, type: 'Normal' | 'Warning', reason: string, message: string) => void;
  /** Told after each deletion; a crash-test hook. */
  afterDelete?: () => void;
}

/** The identity annotations checkpointAnnotations() writes (and checkpointctl's). */
const identityOf = (a: Record<string, string>) => ({
  namespace: a['org.criu.checkpoint.pod.namespace'] ?? '',
  pod: a['org.criu.checkpoint.pod.name'] ?? '',
  container: a['org.criu.checkpoint.container.name'] ?? '',
  ...(a[CHECKPOINTED_TIME_ANNOTATION] ? { checkpointedTime: a[CHECKPOINTED_TIME_ANNOTATION] } : {}),
});

/** Where to delete a registry item: the client of the object that found it, and its repository. */
type Targets = Map<string, { client: RegistryClient; repository: string }>;

/** A deletion carried out, for status and events. */
export interface Done {
  store: Store;
  deletion: Deletion;
}

/**
 * The I/O shell of retention on one node: reads the three stores into plain data, asks decideRetention, deletes,
 * and reports in the responsible objects' status and events. Every step re-reads the world, and deleting something
 * already gone is not an error, so a sweep cut short by a crash is simply done again.
 */
export class RetentionSweeper {
  readonly #d: SweepDeps;
  /** spec.dump identities by path, size and mtime: an archive's identity never changes, reading it is costly. */
  #archiveInfo = new Map<string, ArchiveInfo | null>();
  /** Local image descriptions by image id (immutable). */
  readonly #imageInfo = new Map<string, Omit<RetentionItem, 'id' | 'refs' | 'tags'> | null>();

  constructor(d: SweepDeps) {
    this.#d = d;
  }

  async sweep(): Promise<void> {
    const d = this.#d;
    const all = d.backups
      ? d.backups()
      : (await d.client.get<{ items: CheckpointBackup[] }>(`/apis/${API_GROUP}/v1/${PLURAL}`)).items;
    const backups = all.filter(
      // A workload-level object holds no pod's checkpoints: its children (one per pod, with podRef) do.
      (b) => !b.metadata.deletionTimestamp && !isWorkloadBackup(b) && d.admitted(b),
    );
    const policies = policiesOf(d.defaults, backups);
    const pins = pinsOf(backups);
    const done: Done[] = [];
    const findings: Finding[] = [];
    const pinnedCheckpoints = new Set<string>();
    const collect = (decision: ReturnType<typeof decideRetention>) => {
      for (const p of decision.pinned) {
        const k = checkpointKey(p);
        if (k) pinnedCheckpoints.add(k);
      }
      findings.push(...decision.findings);
    };

    const registry = await this.#registry(backups, policies, pins);
    collect(registry.decision);
    done.push(...(await this.#deleteRegistry(registry.decision.delete, registry.clients)));

    const images = await this.#localImages(backups);
    const archives = await this.#archives(backups);
    const livePods = await this.#livePods([...images, ...archives]);
    const imageDecision = decideRetention({
      store: 'images',
      items: images,
      policies,
      pins,
      ...(livePods ? { livePods } : {}),
    });
    collect(imageDecision);
    done.push(...(await this.#removeImages(imageDecision.delete)));
    const archiveDecision = decideRetention({
      store: 'archives',
      items: archives,
      policies,
      pins,
      pinnedCheckpoints,
      ...(livePods ? { livePods } : {}),
    });
    collect(archiveDecision);
    for (const del of archiveDecision.delete) {
      // Judged again right before: a link may have changed since the listing. The name is unlinked.
      if (!this.#inside(del.item.id)) continue;
      rmSync(del.item.id, { force: true });
      done.push({ store: 'archives', deletion: del });
      d.afterDelete?.();
    }
    for (const x of done) d.metrics.retentionDeletions.inc({ store: x.store });
    if (done.length)
      d.log.info(
        {
          deleted: done.map((x) => ({
            store: x.store,
            what: describeItem(x.deletion.item),
            why: x.deletion.reason,
          })),
        },
        'retention deleted checkpoints',
      );
    await this.#report(backups, done, findings, registry.listed);
  }

  /** buildah rmi for each deletion; a failure leaves it to the next sweep. */
  async #removeImages(deletions: Deletion[]): Promise<Done[]> {
    const d = this.#d;
    const done: Done[] = [];
    for (const del of deletions) {
      const names = del.item.refs?.length ? del.item.refs : [del.item.id];
      try {
        await buildah(d.storage, ['rmi', ...names], { what: names.join(' ') });
        done.push({ store: 'images', deletion: del });
        d.afterDelete?.();
      } catch (err) {
        // In use by a container, or already gone: the next sweep looks again.
        d.log.warn({ image: del.item.id, err: String(err) }, 'retention could not remove a local image');
        // A hung buildah would hang again: leave the rest of this store to the next sweep.
        if (err instanceof CommandTimeout) break;
      }
    }
    return done;
  }

  /** Registry tags of the repositories of the objects this agent answers for, identified by their annotations. */
  async #registry(
    backups: CheckpointBackup[],
    policies: ScopedPolicy[],
    pins: Pin[],
  ): Promise<{
    decision: ReturnType<typeof decideRetention>;
    clients: Targets;
    listed: Map<string, Set<string>>;
  }> {
    const items = new Map<string, RetentionItem>();
    const clients: Targets = new Map();
    /** host/repo -> tags seen, to drop status entries of images that are gone. */
    const listed = new Map<string, Set<string>>();
    for (const b of backups) {
      if (!b.spec.registry || !this.#d.responsible(b)) continue;
      try {
        const client = await this.#d.registryClient(b);
        for (const repo of repositoriesOf(b)) {
          const tags = await listTags(client, repo);
          listed.set(`${client.host}/${repo}`, new Set(tags));
          await Promise.all(tags.map((tag) => this.#registryItem(b, client, repo, tag, items, clients)));
        }
      } catch (err) {
        const backup = `${b.metadata.namespace}/${b.metadata.name}`;
        this.#d.metrics.retentionErrors.inc({ store: 'registry' });
        this.#d.log.warn({ backup, err: String((err as Error).message) }, 'retention skipped this registry');
      }
    }
    const decision = decideRetention({ store: 'registry', items: [...items.values()], policies, pins });
    return { decision, clients, listed };
  }

  /** One tag as an item; tags of one digest merge into one item, since a delete by digest removes them all. */
  async #registryItem(
    b: CheckpointBackup,
    client: RegistryClient,
    repo: string,
    tag: string,
    items: Map<string, RetentionItem>,
    clients: Targets,
  ): Promise<void> {
    const t = await describeTag(client, repo, tag);
    if (!t || Number.isNaN(t.created)) return;
    const who = identityOf(t.annotations);
    // Only this object's pod: other identities in a shared repository are judged by their own objects.
    if (who.namespace !== podNamespace(b) || who.pod !== podName(b)) return;
    const id = `${client.host}/${repo}@${t.digest}`;
    const ref = `${client.host}/${repo}:${tag}`;
    const prev = items.get(id);
    items.set(id, {
      ...who,
      id,
      size: t.size,
      time: Math.max(t.created, prev?.time ?? 0),
      digest: t.digest,
      refs: [...(prev?.refs ?? [id]), ref],
      tags: [...(prev?.tags ?? []), tag],
      ...(prev?.inUse || inProgressImages(b).has(ref) ? { inUse: true } : {}),
    });
    clients.set(id, { client, repository: repo });
  }

  async #deleteRegistry(deletions: Deletion[], clients: Targets): Promise<Done[]> {
    const done: Done[] = [];
    for (const del of deletions) {
      const { client, repository } = clients.get(del.item.id)!;
      try {
        await deleteManifest(client, repository, del.item.digest!);
        done.push({ store: 'registry', deletion: del });
        this.#d.afterDelete?.();
      } catch (err) {
        this.#d.log.warn(
          { image: del.item.id, err: String((err as Error).message) },
          'retention delete failed',
        );
      }
    }
    return done;
  }

  /** Checkpoint images in this node's containers-storage, identified by their annotations. */
  async #localImages(backups: CheckpointBackup[]): Promise<RetentionItem[]> {
    let list: { id: string; names?: string[] | null }[];
    try {
      list = JSON.parse(
        (await buildah(this.#d.storage, ['images', '--json', '--no-trunc'])) || '[]',
      ) as typeof list;
    } catch (err) {
      this.#d.metrics.retentionErrors.inc({ store: 'images' });
      this.#d.log.warn({ err: (err as Error).message }, 'retention cannot list local images');
      return [];
    }
    const inUse = new Set(backups.flatMap((b) => [...inProgressImages(b)]));
    const items: RetentionItem[] = [];
    for (const img of list) {
      let info = this.#imageInfo.get(img.id);
      if (info === undefined) {
        try {
          info = await this.#describeLocal(img.id);
        } catch (err) {
          // Removed since the listing: nothing to keep or delete. Not cached: the same ID (a digest of the image's
          // config) comes back if the same image is written again.
          if (buildahImageFailure(err) === 'absent') continue;
          // A timeout or any other failure (e.g. a network backend buildah cannot set up) says nothing about the
          // image: not cached, counted, and this store waits for the next sweep (a partial list could only delete
          // less, but a failing or hung buildah would fail or hang on every image). The message is buildah's last
          // line of stderr, which names the image by ID and never holds its contents.
          this.#d.metrics.retentionErrors.inc({ store: 'images' });
          this.#d.log.warn(
            { image: img.id, err: (err as Error).message },
            'retention skips local images this sweep',
          );
          return [];
        }
        this.#imageInfo.set(img.id, info);
      }
      if (!info) continue;
      const names = img.names ?? [];
      items.push({
        ...info,
        id: img.id,
        refs: names,
        tags: names.map((n) => splitImageName(n).tag),
        ...(names.some((n) => inUse.has(n)) ? { inUse: true } : {}),
      });
    }
    return items;
  }

  /**
   * An image's identity, or null when buildah describes it and it is no checkpoint image (cached); throws when
   * buildah fails (buildahImageFailure tells an absent image from a failure) or its output is not JSON.
   */
  async #describeLocal(id: string): Promise<Omit<RetentionItem, 'id' | 'refs' | 'tags'> | null> {
    const i = JSON.parse(
      await buildah(this.#d.storage, ['inspect', '--type', 'image', id], { what: id }),
    ) as {
      ImageAnnotations?: Record<string, string>;
      FromImageDigest?: string;
      Manifest?: string;
      OCIv1?: { created?: string };
    };
    const who = identityOf(i.ImageAnnotations ?? {});
    if (!who.namespace || !who.pod || !who.container) return null;
    const m = JSON.parse(i.Manifest ?? '{}') as { config?: { size: number }; layers?: { size: number }[] };
    const time = Date.parse(i.OCIv1?.created ?? '');
    if (Number.isNaN(time)) return null;
    return {
      ...who,
      size: (m.config?.size ?? 0) + (m.layers ?? []).reduce((s, l) => s + l.size, 0),
      time,
      ...(i.FromImageDigest ? { digest: i.FromImageDigest } : {}),
    };
  }

  /**
   * Every file of the checkpoint directory that is a checkpoint archive, whoever wrote it, identified by its
   * spec.dump (never its name). Files that are not archives, or still being written, are left alone.
   */
  async #archives(backups: CheckpointBackup[]): Promise<RetentionItem[]> {
    const dir = this.#d.checkpointDir;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const running = backups.filter((b) => b.status?.run && !isFinished(b.status.phase));
    const recorded = new Set(
      running.flatMap((b) => (b.status?.checkpointFiles ?? []).map((f) => f.filePath)),
    );
    const items: RetentionItem[] = [];
    const seen = new Map<string, ArchiveInfo | null>();
    for (const name of names) {
      const path = join(dir, name);
      try {
        const real = this.#inside(path);
        if (!real) continue;
        const st = statSync(real);
        if (!st.isFile()) continue;
        const cacheKey = `${path}\0${real}\0${st.size}\0${st.mtimeMs}`;
        let info = this.#archiveInfo.get(cacheKey);
        if (info === undefined) {
          info = await readArchiveInfo(real).catch(() => null);
        }
        seen.set(cacheKey, info);
        if (!info) continue;
        const id = { namespace: info.namespace, pod: info.podName, container: info.containerName };
        // An archive of a run in progress, recorded or not yet (the kubelet answered, the status write is pending).
        const inUse =
          recorded.has(path) ||
          running.some(
            (b) =>
              podNamespace(b) === id.namespace &&
              podName(b) === id.pod &&
              st.mtimeMs >= new Date(b.status!.run!.startedAt).getTime() - 1000,
          );
        items.push({
          ...id,
          id: path,
          size: st.size,
          time: st.mtimeMs,
          ...(info.checkpointedTime ? { checkpointedTime: info.checkpointedTime } : {}),
          ...(existsSync(`${path}.keep`) ? { keep: true } : {}),
          ...(inUse ? { inUse: true } : {}),
        });
      } catch {
        // vanished meanwhile
      }
    }
    this.#archiveInfo = seen;
    return items;
  }

  /**
   * The real path of an entry of the checkpoint directory, or undefined when it is gone or leads out of the
   * directory (a symlink): such a path is neither read, nor counted, nor deleted (confine.ts), and logged.
   */
  #inside(path: string): string | undefined {
    const c = confineArchive(this.#d.checkpointDir, path);
    if (c.ok) return c.path;
    if (!c.missing)
      this.#d.log.warn({ path, why: c.why }, 'retention skips a path outside the checkpoint directory');
    return undefined;
  }

  /** The pods of these items that exist; undefined when the apiserver could not say (then no orphan goes). */
  async #livePods(items: RetentionItem[]): Promise<Set<string> | undefined> {
    const live = new Set<string>();
    for (const key of new Set(items.map((i) => `${i.namespace}/${i.pod}`))) {
      const [ns, pod] = key.split('/') as [string, string];
      try {
        if (
          this.#d.podHere?.(ns, pod) ||
          (await getOrUndefined(this.#d.client, `/api/v1/namespaces/${ns}/pods/${pod}`))
        )
          live.add(key);
      } catch {
        return undefined;
      }
    }
    return live;
  }

  /**
   * For each object this agent answers for: the RetentionSatisfied condition (False with the pinned checkpoints
   * that keep a limit exceeded, one Warning event when that starts or changes), a Normal event naming what was
   * deleted, and builtImages without the images that are gone.
   */
  async #report(
    backups: CheckpointBackup[],
    done: Done[],
    findings: Finding[],
    listed: Map<string, Set<string>>,
  ): Promise<void> {
    for (const b of backups) {
      // Never under a run in progress: its steps own the status then, and the sweep after it reports.
      if (!this.#d.responsible(b) || (b.status?.run && !isFinished(b.status.phase))) continue;
      const r = retentionReport(b, done, findings, listed);
      let updated = b;
      if (r.changed || r.stale.size) {
        updated = await this.#d.writeStatus(b, (s) => ({
          ...s,
          builtImages: (s.builtImages ?? []).filter((i) => !r.stale.has(i.imageName)),
          conditions: setCondition(s.conditions, r.condition),
        }));
      }
      if (r.deleted.length) this.#d.event(updated, 'Normal', 'RetentionDeleted', deletedMessage(r.deleted));
      if (r.changed && r.condition.status === 'False')
        this.#d.event(updated, 'Warning', 'PinnedBeyondLimit', r.condition.message);
    }
  }
}

/**
 * What a sweep means for one object, pure: its condition (and whether it changed), the deletions of its pod, and
 * the builtImages entries that no longer exist (deleted now, or pushed but absent from the registry's listing),
 * except those of a run in progress.
 */
export function retentionReport(
  b: CheckpointBackup,
  done: Done[],
  findings: Finding[],
  listed: Map<string, Set<string>>,
): {
  condition: Omit<Condition, 'lastTransitionTime'>;
  changed: boolean;
  deleted: Done[];
  stale: Set<string>;
} {
  const ns = podNamespace(b);
  const pod = podName(b);
  const mine = (f: { namespace: string; pod?: string }) => f.namespace === ns && (!f.pod || f.pod === pod);
  const blocked = findings.filter(mine).map((f) => f.message);
  const condition = {
    type: RETENTION_CONDITION,
    status: blocked.length ? ('False' as const) : ('True' as const),
    reason: blocked.length ? 'PinnedBeyondLimit' : 'WithinLimits',
    message: blocked.length ? blocked.join('; ') : 'every retention limit is met',
    observedGeneration: b.metadata.generation ?? 0,
  };
  const old = b.status?.conditions?.find((c) => c.type === RETENTION_CONDITION);
  const gone = new Set(done.flatMap((x) => x.deletion.item.refs ?? []));
  const running = isFinished(b.status?.phase)
    ? new Set<string>()
    : new Set(runImages(b).map((i) => i.imageName));
  const absent = (name: string) => {
    const { host, repository, tag } = splitImageName(name);
    const tags = listed.get(`${host}/${repository}`);
    return !!tags && !tags.has(tag);
  };
  const stale = (b.status?.builtImages ?? []).filter(
    (i) => !running.has(i.imageName) && (gone.has(i.imageName) || (i.pushed && absent(i.imageName))),
  );
  return {
    condition,
    changed: old?.status !== condition.status || old.message !== condition.message,
    deleted: done.filter((x) => mine(x.deletion.item)),
    stale: new Set(stale.map((i) => i.imageName)),
  };
}

function deletedMessage(done: Done[]): string {
  const words: Record<Store, string> = {
    archives: 'archive',
    images: 'local image',
    registry: 'registry image',
  };
  return `retention deleted ${done.map((x) => `${words[x.store]} ${describeItem(x.deletion.item)} (${x.deletion.reason})`).join('; ')}`;
}

/** The agent-wide policy, then each object's spec.retention for its pod (namespace-wide fields for its namespace). */
export function policiesOf(defaults: RetentionPolicy, backups: CheckpointBackup[]): ScopedPolicy[] {
  const out: ScopedPolicy[] = [{ policy: defaults, source: 'agent flags' }];
  for (const b of backups) {
    const r = b.spec.retention;
    if (!r) continue;
    const source = `CheckpointBackup ${b.metadata.namespace}/${b.metadata.name}`;
    const namespace = podNamespace(b);
    out.push({ namespace, pod: podName(b), policy: r, source });
    const { maxCheckpointsPerNamespace, maxTotalSizePerNamespace } = r;
    if (maxCheckpointsPerNamespace !== undefined || maxTotalSizePerNamespace !== undefined)
      out.push({
        namespace,
        policy: {
          ...(maxCheckpointsPerNamespace !== undefined ? { maxCheckpointsPerNamespace } : {}),
          ...(maxTotalSizePerNamespace !== undefined ? { maxTotalSizePerNamespace } : {}),
        },
        source,
      });
  }
  return out;
}

export function pinsOf(backups: CheckpointBackup[]): Pin[] {
  return backups.flatMap((b) =>
    pinnedImages(b).map((p) => ({ ...p, namespace: podNamespace(b), pod: podName(b) })),
  );
}

/** Images of a run still in progress: never deleted under it. */
function inProgressImages(b: CheckpointBackup): Set<string> {
  return isFinished(b.status?.phase) ? new Set() : new Set(runImages(b).map((i) => i.imageName));
}

/** The repositories an object pushes to: one per container it has checkpointed or will. */
function repositoriesOf(b: CheckpointBackup): string[] {
  const r = b.spec.registry!;
  const base = r.repository.replace(/^\/|\/$/g, '');
  const containers = new Set([
    ...(b.spec.containers ?? []).map((c) => c.name),
    ...(b.status?.run?.containers ?? []),
    ...(b.status?.builtImages ?? []).map((i) => i.containerName),
  ]);
  const repos = new Set([...containers].map((c) => `${base}/checkpoint-${podName(b)}-${c}`));
  for (const i of b.status?.builtImages ?? []) {
    const { host, repository } = splitImageName(i.imageName);
    if (host === r.url) repos.add(repository);
  }
  return [...repos].sort();
}

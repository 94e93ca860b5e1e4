import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { header, padding, scanTarFile, trailer, type TarEntry } from './tar.js';

/** What identifies a checkpoint archive, read from its config.dump and spec.dump (never from the file name). */
export interface ArchiveInfo {
  containerName: string;
  podName: string;
  namespace: string;
  /** The checkpointed pod's uid ('' when the runtime did not record it): a pod's incarnations share its name. */
  podUid: string;
  rootfsImageName: string;
  rootfsImageRef: string;
  checkpointedTime: string;
  runtime: 'cri-o' | 'containerd' | 'unknown';
  /** Container paths of the bind mounts a restore must provide (from spec.dump). */
  mounts: string[];
}

export interface WriteArchiveOptions {
  containerName: string;
  podName: string;
  namespace: string;
  podUid?: string;
  rootfsImageName: string;
  /** Bytes of (pseudo) memory pages to include, standing in for CRIU's pages-*.img. */
  memoryBytes: number;
  mounts?: { destination: string; source: string }[];
  now?: Date;
}

const pseudoPages = (seed: string): Buffer => {
  const block = Buffer.alloc(1 << 20);
  let h = createHash('sha256').update(seed).digest();
  for (let off = 0; off < block.length; off += h.length) {
    h.copy(block, off);
    h = createHash('sha256').update(h).digest();
  }
  return block;
};

/**
 * Writes an archive in CRI-O's format (checkpoint/ with the CRIU images, config.dump, spec.dump, stats-dump,
 * dump.log, bind.mounts; no "./" prefixes), mode 0600. Used by the node stand-in in place of the runtime.
 */
export async function writeArchive(path: string, o: WriteArchiveOptions): Promise<void> {
  const now = o.now ?? new Date();
  const out = createWriteStream(path, { mode: 0o600 });
  const write = async (b: Buffer): Promise<void> => {
    if (!out.write(b)) await once(out, 'drain');
  };
  const file = async (name: string, content: Buffer): Promise<void> => {
    await write(header({ name, type: 'file', size: content.length, mode: 0o600, mtime: now }));
    await write(content);
    await write(padding(content.length));
  };
  const id = createHash('sha256')
    .update(`${o.namespace}/${o.podName}/${o.containerName}/${now.toISOString()}`)
    .digest('hex');
  await write(header({ name: 'checkpoint/', type: 'directory', size: 0, mode: 0o700, mtime: now }));
  await file('checkpoint/inventory.img', Buffer.from(`CRIU inventory ${id}\n`));
  const block = pseudoPages(id);
  await write(
    header({ name: 'checkpoint/pages-1.img', type: 'file', size: o.memoryBytes, mode: 0o600, mtime: now }),
  );
  for (let left = o.memoryBytes; left > 0; left -= block.length)
    await write(block.subarray(0, Math.min(left, block.length)));
  await write(padding(o.memoryBytes));
  const config = {
    id,
    name: `k8s_${o.containerName}_${o.podName}_${o.namespace}`,
    rootfsImage: o.rootfsImageName,
    rootfsImageRef: o.rootfsImageName,
    rootfsImageName: o.rootfsImageName,
    runtime: 'runc',
    createdTime: now.toISOString(),
    checkpointedTime: now.toISOString(),
    restoredTime: '0001-01-01T00:00:00Z',
    restored: false,
  };
  const spec = {
    ociVersion: '1.0.2',
    annotations: {
      'io.container.manager': 'cri-o',
      'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: o.containerName }),
      'io.kubernetes.pod.name': o.podName,
      'io.kubernetes.pod.namespace': o.namespace,
      ...(o.podUid ? { 'io.kubernetes.pod.uid': o.podUid } : {}),
      'io.kubernetes.cri-o.Annotations': JSON.stringify({}),
      'io.kubernetes.container.name': o.containerName,
      'io.kubernetes.cri-o.Created': now.toISOString(),
    },
    mounts: (o.mounts ?? []).map((m) => ({
      destination: m.destination,
      type: 'bind',
      source: m.source,
      options: ['rbind'],
    })),
  };
  await file('config.dump', Buffer.from(JSON.stringify(config)));
  await file('spec.dump', Buffer.from(JSON.stringify(spec)));
  await file('stats-dump', Buffer.from(JSON.stringify({ dumpStatistics: { memwrite: o.memoryBytes } })));
  await file('dump.log', Buffer.from('(00.000000) Dumping finished successfully\n'));
  await file('bind.mounts', Buffer.from(JSON.stringify(spec.mounts)));
  await write(trailer());
  out.end();
  await once(out, 'finish');
}

/**
 * Reads an archive's identity from config.dump and spec.dump, CRI-O or containerd flavour. Only the tar headers and
 * those two files are read, so it costs the same for a 10 GiB archive as for a small one.
 */
export async function readArchiveInfo(path: string): Promise<ArchiveInfo> {
  const found: Record<string, Buffer> = {};
  await scanTarFile(
    path,
    (e: TarEntry) => e.name === 'config.dump' || e.name === 'spec.dump',
    (e, content) => (found[e.name] = content),
    () => !!found['config.dump'] && !!found['spec.dump'],
  );
  if (!found['spec.dump']) throw new Error(`${path}: no spec.dump, not a container checkpoint archive`);
  const spec = JSON.parse(found['spec.dump'].toString('utf8')) as {
    annotations?: Record<string, string>;
    mounts?: { destination: string; type?: string }[];
  };
  const config = found['config.dump']
    ? (JSON.parse(found['config.dump'].toString('utf8')) as Record<string, string>)
    : {};
  const a = spec.annotations ?? {};
  const crio = a['io.container.manager'] === 'cri-o';
  const containerName = crio
    ? ((JSON.parse(a['io.kubernetes.cri-o.Metadata'] ?? '{}') as { name?: string }).name ?? '')
    : (a['io.kubernetes.cri.container-name'] ?? '');
  return {
    containerName,
    podName: crio ? (a['io.kubernetes.pod.name'] ?? '') : (a['io.kubernetes.cri.sandbox-name'] ?? ''),
    namespace: crio
      ? (a['io.kubernetes.pod.namespace'] ?? '')
      : (a['io.kubernetes.cri.sandbox-namespace'] ?? ''),
    podUid: a[crio ? 'io.kubernetes.pod.uid' : 'io.kubernetes.cri.sandbox-uid'] || '',
    rootfsImageName: config.rootfsImageName ?? '',
    rootfsImageRef: config.rootfsImageRef ?? '',
    checkpointedTime: config.checkpointedTime ?? '',
    runtime: crio ? 'cri-o' : a['io.kubernetes.cri.container-name'] ? 'containerd' : 'unknown',
    mounts: (spec.mounts ?? []).filter((m) => m.type === 'bind').map((m) => m.destination),
  };
}

import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ARCHIVE_DIGESTS_ANNOTATION } from '@stateful-migration/api';
import {
  ALL_CAPABILITIES,
  archiveMismatch,
  capabilitiesOfMask,
  CHECKPOINT_NAME_ANNOTATION,
  containerId,
  crioAnnotations,
  ociSpec,
  expandVars,
  processArgs,
  processEnv,
  processSecurity,
  restartAfter,
  restartBackoffMs,
  type CheckpointRestoreSetting,
  type ContainerRecordView,
  type ContainerView,
  type DownwardPod,
  type ImageAccounts,
  type PodContainer,
  type PodSecurityContext,
  type ProbeOutcome,
  type ProcessSecurity,
  type RestartPolicy,
  type SecurityContext,
} from './decisions.js';
import type { ImageStore } from './images.js';
import { ImagePullError, type LocalImage, type PullCredentials } from './images.js';
import { Runc, RuntimeError } from './runc.js';
import type { PodForwarders } from '../forwarding.js';

const exec = promisify(execFile);

export interface RuntimePod {
  metadata?: DownwardPod['metadata'];
  spec?: {
    containers: (PodContainer & { imagePullPolicy?: string; securityContext?: SecurityContext })[];
    restartPolicy?: RestartPolicy;
    volumes?: { name: string }[];
    hostname?: string;
    securityContext?: PodSecurityContext;
  };
}

/**
 * What the kubelet hands the runtime with a pod: where each volume is on the node (PodVolumes), and each container's
 * environment as it resolves it (containerEnv), or the CreateContainerConfigError message when it cannot.
 */
export interface PodConfig {
  volumes: Map<string, string>;
  /** The pod's IP, which its network namespace holds on loopback. */
  podIP?: string;
  env(c: PodContainer): Promise<{ env: [string, string][] } | { error: string }>;
}

/** What the runtime remembers of one container of a pod, on disk, so a restarted stand-in picks it up. */
interface ContainerRecord {
  attempt: number;
  id: string;
  restarts: number;
  image?: string;
  imageId?: string;
  /** The image a restore needs underneath: the container's own image, or for a restored one its checkpoint's base. */
  baseImage?: string;
  baseImageId?: string;
  createdAt?: string;
  startedAt?: string;
  restoredAt?: string;
  termSentAt?: number;
  waiting?: { reason: string; message: string; retryAt: number; failures: number };
  last?: { exitCode: number; startedAt: string; finishedAt: string };
}

export interface ContainerReport extends ContainerRecordView {
  name: string;
  image: string;
  imageId: string;
  containerId: string;
}

/** A failure the kubelet answers the checkpoint call with: CRI's gRPC code and CRI-O's description. */
export class CheckpointFailure extends Error {
  constructor(
    readonly code: string,
    readonly desc: string,
  ) {
    super(desc);
  }
}

interface MadeContainer {
  binds: { source: string; destination: string; readOnly: boolean }[];
  env: [string, string][];
  args: string[];
  security: ProcessSecurity;
}

/** The image's /etc/passwd and /etc/group, which CRI-O reads to resolve the user and its groups. */
function readAccounts(rootfs: string): ImageAccounts {
  const read = (f: string) => {
    const p = join(rootfs, 'etc', f);
    return existsSync(p) && !lstatSync(p).isSymbolicLink() ? readFileSync(p, 'utf8') : undefined;
  };
  const passwd = read('passwd');
  const group = read('group');
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
}

/** The capabilities this runtime holds (its bounding set): what `privileged` and `add: [ALL]` can give. */
function runtimeCapabilities(): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? capabilitiesOfMask(m[1]!) : ALL_CAPABILITIES;
}

/** The host's device nodes directly under /dev, which CRI-O gives a privileged container. */
function hostDevices(): NonNullable<Parameters<typeof ociSpec>[0]['hostDevices']> {
  const out: NonNullable<Parameters<typeof ociSpec>[0]['hostDevices']> = [];
  for (const name of readdirSync('/dev')) {
    const path = join('/dev', name);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) continue;
    const rdev = Number(st.rdev);
    out.push({
      path,
      type: st.isCharacterDevice() ? 'c' : 'b',
      major: (rdev >> 8) & 0xfff,
      minor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
      fileMode: st.mode & 0o777,
    });
  }
  return out;
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * One node's container runtime, in CRI-O's place: pods' containers run in runc under conmon, each on an overlay of
 * its image with its own writable layer; a container whose image is a checkpoint image is restored with CRIU
 * instead (when the node's setting allows); checkpoints write CRI-O's archive. State lives on disk (records, runc's
 * state, conmon's exit files), not in this process.
 */
export class NodeRuntime {
  readonly runc: Runc;
  readonly #dir: string;

  constructor(
    dir: string,
    readonly images: ImageStore,
    criu: string,
    /** Read at each checkpoint and restore, so a node admin's change takes effect as CRI-O's reload does. */
    private readonly settingNow: () => CheckpointRestoreSetting,
    /** Each pod's forwarder to the node's services (ADR 0011 step 3), started with its sandbox. */
    private readonly forwarders?: PodForwarders,
  ) {
    this.#dir = dir;
    this.runc = new Runc({
      root: join(dir, 'runc'),
      criu,
      exitDir: join(dir, 'exits'),
      socketDir: join(dir, 'sockets'),
    });
  }

  #podDir = (uid: string): string => join(this.#dir, 'pods', uid);
  #netns = (uid: string): string => join(this.#dir, 'netns', uid);

  /**
   * The pod's sandbox, as CRI-O's infra container holds it: one network namespace, pinned by a bind mount at
   * netns/<uid>, that every container of the pod joins (they share localhost), loopback up with the pod's IP on it.
   */
  async #sandbox(uid: string, podIP: string | undefined): Promise<void> {
    const path = this.#netns(uid);
    const pinned = await exec('nsenter', [`--net=${path}`, 'true']).then(
      () => true,
      () => false,
    );
    if (!pinned) {
      mkdirSync(join(this.#dir, 'netns'), { recursive: true, mode: 0o700 });
      writeFileSync(path, '');
      await exec('unshare', [`--net=${path}`, 'true']);
      await exec('nsenter', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
      if (podIP) await exec('nsenter', [`--net=${path}`, 'ip', 'addr', 'add', `${podIP}/32`, 'dev', 'lo']);
    }
    // Before any container of the pod starts, as kube-proxy's rules exist before a pod runs: the first connection a
    // container makes to the API or its kubelet must not be refused.
    await this.forwarders?.ensure(uid, path);
  }
  #recordFile = (uid: string, name: string): string => join(this.#podDir(uid), name, 'record.json');
  #bundle = (uid: string, name: string, attempt: number): string =>
    join(this.#podDir(uid), name, String(attempt));

  logPath(pod: RuntimePod, name: string, attempt: number): string {
    const m = pod.metadata ?? {};
    return join(this.#dir, 'logs', `${m.namespace}_${m.name}_${m.uid}`, name, `${attempt}.log`);
  }

  #load(uid: string, name: string): ContainerRecord | undefined {
    const f = this.#recordFile(uid, name);
    return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as ContainerRecord) : undefined;
  }

  #save(uid: string, name: string, r: ContainerRecord): void {
    const f = this.#recordFile(uid, name);
    mkdirSync(join(f, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(`${f}.tmp`, JSON.stringify(r), { mode: 0o600 });
    renameSync(`${f}.tmp`, f);
  }

  /** The record of a pod's container, for the kubelet's endpoints. */
  record(
    uid: string,
    name: string,
  ): { id: string; attempt: number; running: boolean; exited: boolean } | undefined {
    const r = this.#load(uid, name);
    if (!r) return undefined;
    const exited = !!r.startedAt && !!this.runc.exit(r.id);
    return { id: r.id, attempt: r.attempt, running: !!r.startedAt && !exited, exited };
  }

  /**
   * Brings each container of the pod towards running (pull, create or restore, restart by policy with the
   * kubelet's back-off) and reports what the kubelet would; `requeueMs` says when something is due.
   */
  async sync(
    pod: RuntimePod,
    creds: () => Promise<PullCredentials[]>,
    config: PodConfig = { volumes: new Map(), env: () => Promise.resolve({ env: [] }) },
  ): Promise<{ containers: ContainerReport[]; requeueMs?: number }> {
    const uid = pod.metadata!.uid!;
    // A pod whose sandbox outlived a restart of the stand-in lost its forwarder with it (it ends with its parent).
    // Its failure does not stop the sync (the containers run on; the next sync tries again): the forwarder logs it.
    if (existsSync(this.#netns(uid)))
      await this.forwarders?.ensure(uid, this.#netns(uid)).catch(() => undefined);
    const policy = pod.spec?.restartPolicy ?? 'Always';
    const reports: ContainerReport[] = [];
    let requeueMs: number | undefined;
    const due = (ms: number) => (requeueMs = Math.max(500, Math.min(requeueMs ?? ms, ms)));
    for (const c of pod.spec?.containers ?? []) {
      let r = this.#load(uid, c.name) ?? { attempt: 0, id: containerId(uid, c.name, 0), restarts: 0 };
      const now = Date.now();
      if (r.startedAt) {
        const exit =
          this.runc.exit(r.id) ??
          ((await this.runc.status(r.id)) === 'missing' ? { code: 255, at: new Date() } : undefined);
        if (exit) {
          const ended = { exitCode: exit.code, startedAt: r.startedAt, finishedAt: rfc3339(exit.at) };
          const at = restartAfter(policy, exit.code, r.restarts, exit.at.getTime());
          if (at === undefined) {
            reports.push(this.#report(c, r, { state: 'exited', ...ended }));
            continue;
          }
          if (now < at) {
            due(at - now);
            const s = Math.round(restartBackoffMs(r.restarts) / 1000);
            reports.push(
              this.#report(
                c,
                { ...r, last: ended },
                {
                  state: 'waiting',
                  reason: 'CrashLoopBackOff',
                  message: `back-off ${s}s restarting failed container=${c.name} pod=${pod.metadata?.name}_${pod.metadata?.namespace}(${uid})`,
                  everStarted: true,
                },
              ),
            );
            continue;
          }
          await this.#discard(uid, c.name, r);
          r = {
            attempt: r.attempt + 1,
            id: containerId(uid, c.name, r.attempt + 1),
            restarts: r.restarts + 1,
            last: ended,
          };
        }
      }
      if (!r.startedAt) {
        if (r.waiting && now < r.waiting.retryAt) {
          due(r.waiting.retryAt - now);
          const backoff = r.waiting.reason === 'ErrImagePull' ? 'ImagePullBackOff' : r.waiting.reason;
          const message =
            backoff === 'ImagePullBackOff'
              ? `Back-off pulling image "${c.image}": ErrImagePull: ${r.waiting.message}`
              : r.waiting.message;
          reports.push(
            this.#report(c, r, { state: 'waiting', reason: backoff, message, everStarted: false }),
          );
          continue;
        }
        r = await this.#start(pod, c, r, creds, config);
        this.#save(uid, c.name, r);
        if (r.waiting) {
          due(r.waiting.retryAt - Date.now());
          reports.push(
            this.#report(c, r, {
              state: 'waiting',
              reason: r.waiting.reason,
              message: r.waiting.message,
              everStarted: false,
            }),
          );
          continue;
        }
      }
      reports.push(this.#report(c, r, { state: 'running', startedAt: r.startedAt! }));
    }
    return { containers: reports, ...(requeueMs !== undefined ? { requeueMs } : {}) };
  }

  #report(c: PodContainer, r: ContainerRecord, view: ContainerView): ContainerReport {
    return {
      name: c.name,
      image: c.image,
      imageId: r.imageId ?? '',
      containerId: r.startedAt ? `cri-o://${r.id}` : '',
      view,
      restarts: r.restarts,
      ...(r.last ? { last: r.last } : {}),
    };
  }

  async #start(
    pod: RuntimePod,
    c: PodContainer & { imagePullPolicy?: string },
    r: ContainerRecord,
    creds: () => Promise<PullCredentials[]>,
    config: PodConfig,
  ): Promise<ContainerRecord> {
    const uid = pod.metadata!.uid!;
    const failures = (r.waiting?.failures ?? 0) + 1;
    const wait = (reason: string, message: string): ContainerRecord => ({
      ...r,
      waiting: { reason, message, failures, retryAt: Date.now() + restartBackoffMs(failures - 1) },
    });
    let image: LocalImage;
    try {
      image = await this.images.pull(c.image, await creds(), c.imagePullPolicy);
    } catch (err) {
      if (err instanceof ImagePullError)
        return wait('ErrImagePull', `failed to pull image "${c.image}": ${err.message}`);
      throw err;
    }
    // The kubelet's part before CreateContainer: the environment, then (from the image's user) the security context.
    const env = await config.env(c);
    if ('error' in env) return wait('CreateContainerConfigError', env.error);
    try {
      await this.#sandbox(uid, config.podIP);
    } catch (err) {
      return wait('CreateContainerError', `failed to create the pod's network namespace: ${String(err)}`);
    }
    const bundle = this.#bundle(uid, c.name, r.attempt);
    await this.#discardBundle(bundle);
    const checkpointOf = image.annotations[CHECKPOINT_NAME_ANNOTATION];
    try {
      if (checkpointOf === undefined) {
        const made = this.#made(pod, c, image, config, env.env);
        if ('error' in made) return wait('CreateContainerConfigError', made.error);
        await this.#mountRootfs(bundle, image.rootfs);
        writeFileSync(
          join(bundle, 'config.json'),
          JSON.stringify(this.#spec(bundle, pod, c, image, r.attempt, made)),
        );
        await this.runc.run(r.id, bundle, this.logPath(pod, c.name, r.attempt));
        const now = rfc3339(new Date());
        return {
          attempt: r.attempt,
          id: r.id,
          restarts: r.restarts,
          image: c.image,
          imageId: image.imageId,
          baseImage: c.image,
          baseImageId: image.imageId,
          createdAt: now,
          startedAt: now,
          ...(r.last ? { last: r.last } : {}),
        };
      }
      return await this.#restore(pod, c, r, image, checkpointOf, bundle, creds, wait, config, env.env);
    } catch (err) {
      if (err instanceof RuntimeError) return wait('CreateContainerError', err.message);
      throw err;
    }
  }

  /** CRI-O's restore: a fresh rootfs of the checkpoint's base image, rootfs-diff.tar and deleted.files applied, then runc restore. */
  async #restore(
    pod: RuntimePod,
    c: PodContainer,
    r: ContainerRecord,
    image: LocalImage,
    checkpointOf: string,
    bundle: string,
    creds: () => Promise<PullCredentials[]>,
    wait: (reason: string, message: string) => ContainerRecord,
    config: PodConfig,
    env: [string, string][],
  ): Promise<ContainerRecord> {
    const setting = this.settingNow();
    if (setting !== 'checkpoint_restore')
      return wait(
        'CreateContainerError',
        `restoring checkpoint image ${c.image} is disabled on this node: [crio.checkpoint_restore] container_level_enabled is "${setting}", restore needs "checkpoint_restore"`,
      );
    if (checkpointOf !== c.name)
      return wait(
        'CreateContainerError',
        `checkpoint image ${c.image} holds container "${checkpointOf}", not "${c.name}": restore needs the same container name`,
      );
    // The archive must be the one recorded when it was checkpointed (the restore controller carries its digest on
    // the pod); a real CRI-O checks the manifest's and layers' digests and ocicrypt's HMAC, which the pull did here.
    const mismatch = archiveMismatch(
      c.name,
      c.image,
      pod.metadata?.annotations?.[ARCHIVE_DIGESTS_ANNOTATION],
      image.diffIds,
    );
    if (mismatch) return wait('CreateContainerError', mismatch);
    const content = image.rootfs;
    if (!existsSync(join(content, 'config.dump')) || !existsSync(join(content, 'checkpoint')))
      return wait(
        'CreateContainerError',
        `checkpoint image ${c.image} holds no checkpoint archive (config.dump, checkpoint/)`,
      );
    const dump = JSON.parse(readFileSync(join(content, 'config.dump'), 'utf8')) as {
      rootfsImageName?: string;
    };
    const baseName = dump.rootfsImageName ?? '';
    let base: LocalImage;
    try {
      base = await this.images.pull(baseName, await creds());
    } catch (err) {
      if (err instanceof ImagePullError)
        return wait(
          'CreateContainerError',
          `failed to restore container ${c.name}: base image "${baseName}" of the checkpoint: ${err.message}`,
        );
      throw err;
    }
    const rootfs = await this.#mountRootfs(bundle, base.rootfs);
    if (existsSync(join(content, 'rootfs-diff.tar')))
      await exec('tar', ['-xf', join(content, 'rootfs-diff.tar'), '-C', rootfs]);
    if (existsSync(join(content, 'deleted.files'))) {
      for (const f of JSON.parse(readFileSync(join(content, 'deleted.files'), 'utf8')) as string[]) {
        const p = await insideRoot(rootfs, f);
        if (p) rmSync(p, { recursive: true, force: true });
      }
    }
    // As CRI-O: the new container's spec comes from the new pod (never the archive's hooks, namespaces, capabilities
    // or mount sources); spec.dump only says which bind mounts the restored process expects, by destination.
    const dumped = JSON.parse(readFileSync(join(content, 'spec.dump'), 'utf8')) as {
      mounts?: { destination: string; type?: string }[];
    };
    const made = this.#made(pod, c, base, config, env);
    if ('error' in made) return wait('CreateContainerConfigError', made.error);
    const binds = made.binds;
    for (const m of dumped.mounts ?? []) {
      if (m.type !== 'bind' || binds.some((b) => b.destination === m.destination)) continue;
      return wait(
        'CreateContainerError',
        `failed to restore container ${c.name}: the checkpoint has a bind mount at ${m.destination}, the new container has no volume mounted there`,
      );
    }
    const spec = this.#spec(bundle, pod, c, base, r.attempt, made, baseName);
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    await this.runc.restore(
      r.id,
      bundle,
      this.logPath(pod, c.name, r.attempt),
      join(content, 'checkpoint'),
      join(bundle, 'restore-work'),
    );
    const now = rfc3339(new Date());
    return {
      attempt: r.attempt,
      id: r.id,
      restarts: r.restarts,
      image: c.image,
      imageId: image.imageId,
      baseImage: baseName,
      baseImageId: base.imageId,
      createdAt: now,
      startedAt: now,
      restoredAt: now,
      ...(r.last ? { last: r.last } : {}),
    };
  }

  /**
   * What the container is made of besides its image: its volumes bind-mounted where it asks (subPath inside the
   * volume), its environment and args with $(VAR) expanded, its user and privileges. A volume the kubelet did not set
   * up, or a security context that cannot hold, is the kubelet's CreateContainerConfigError.
   */
  #made(
    pod: RuntimePod,
    c: PodContainer & { securityContext?: SecurityContext },
    image: LocalImage,
    config: PodConfig,
    env: [string, string][],
  ): MadeContainer | { error: string } {
    const binds: MadeContainer['binds'] = [];
    for (const vm of c.volumeMounts ?? []) {
      const path = config.volumes.get(vm.name);
      if (!path) return { error: `cannot find volume "${vm.name}" to mount into container "${c.name}"` };
      const sub = vm.subPath ? join(path, vm.subPath) : path;
      if (
        vm.subPath &&
        !relative(path, sub)
          .split('/')
          .every((p) => p && p !== '..')
      )
        return { error: `failed to prepare subPath for volumeMount "${vm.name}" of container "${c.name}"` };
      if (vm.subPath) mkdirSync(sub, { recursive: true, mode: 0o755 });
      binds.push({ source: sub, destination: vm.mountPath, readOnly: !!vm.readOnly });
    }
    const m = pod.metadata ?? {};
    const security = processSecurity(
      {
        ref: `${m.name}_${m.namespace}(${m.uid})`,
        ...(pod.spec?.securityContext ? { securityContext: pod.spec.securityContext } : {}),
      },
      c,
      image.config,
      readAccounts(image.rootfs),
      runtimeCapabilities(),
    );
    if ('error' in security) return security;
    const vars = new Map(env);
    const lookup = (n: string) => vars.get(n);
    const expanded = {
      ...c,
      ...(c.command ? { command: c.command.map((a) => expandVars(a, lookup)) } : {}),
      ...(c.args ? { args: c.args.map((a) => expandVars(a, lookup)) } : {}),
    };
    return { binds, env, args: processArgs(image.config, expanded), security };
  }

  #annotationInput(pod: RuntimePod, c: PodContainer, attempt: number, image: string) {
    const m = pod.metadata ?? {};
    return {
      namespace: m.namespace ?? '',
      pod: m.name ?? '',
      podUid: m.uid ?? '',
      container: c.name,
      attempt,
      image,
      podAnnotations: m.annotations ?? {},
      labels: m.labels ?? {},
    };
  }

  #spec(
    bundle: string,
    pod: RuntimePod,
    c: PodContainer,
    image: LocalImage,
    attempt: number,
    made: MadeContainer,
    imageName = c.image,
  ): Record<string, unknown> {
    return ociSpec({
      rootfs: join(bundle, 'rootfs'),
      args: made.args,
      env: processEnv(image.config, c, made.env),
      cwd: c.workingDir ?? image.config.WorkingDir ?? '/',
      hostname: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
      binds: made.binds,
      annotations: crioAnnotations(this.#annotationInput(pod, c, attempt, imageName)),
      security: made.security,
      netns: this.#netns(pod.metadata!.uid!),
      ...(made.security.privileged ? { hostDevices: hostDevices() } : {}),
    });
  }

  /** An overlay of the image's root filesystem with the container's own writable layer (upper/), as CRI-O's storage gives. */
  async #mountRootfs(bundle: string, lower: string): Promise<string> {
    const rootfs = join(bundle, 'rootfs');
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(bundle, d), { recursive: true, mode: 0o700 });
    // The overlay's root takes the upper directory's mode: 0755 as containers-storage makes it, so that a container
    // running as another user than root can reach its own /.
    chmodSync(join(bundle, 'upper'), 0o755);
    await exec('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lower},upperdir=${join(bundle, 'upper')},workdir=${join(bundle, 'work')}`,
      rootfs,
    ]);
    return rootfs;
  }

  async #discardBundle(bundle: string): Promise<void> {
    if (!existsSync(bundle)) return;
    await exec('umount', [join(bundle, 'rootfs')]).catch(() => undefined);
    rmSync(bundle, { recursive: true, force: true });
  }

  async #discard(uid: string, name: string, r: ContainerRecord): Promise<void> {
    await this.runc.remove(r.id);
    rmSync(join(this.#dir, 'exits', r.id), { force: true });
    await this.#discardBundle(this.#bundle(uid, name, r.attempt));
  }

  /** The host PID of a running container's process, for probes that enter its network namespace. */
  async containerPid(uid: string, name: string): Promise<number | undefined> {
    const r = this.#load(uid, name);
    if (!r?.startedAt || this.runc.exit(r.id)) return undefined;
    return this.runc.pid(r.id);
  }

  /** An exec probe: the command in the container as its user; success is exit 0, failure says the output. */
  async execProbe(uid: string, name: string, command: string[], timeoutMs: number): Promise<ProbeOutcome> {
    const r = this.#load(uid, name);
    if (!r?.startedAt) return { ok: false, message: 'container is not running' };
    const spec = JSON.parse(
      readFileSync(join(this.#bundle(uid, name, r.attempt), 'config.json'), 'utf8'),
    ) as {
      process: { user: { uid: number; gid: number } };
    };
    const res = await this.runc.exec(
      r.id,
      `${spec.process.user.uid}:${spec.process.user.gid}`,
      command,
      timeoutMs,
    );
    if (res === 'timeout')
      return { ok: false, message: `command ${JSON.stringify(command.join(' '))} timed out` };
    return res.code === 0 ? { ok: true } : { ok: false, message: res.output.trim() };
  }

  /** Kills a container as the kubelet does after a failed liveness probe: SIGTERM, SIGKILL after the grace period. */
  async killContainer(uid: string, name: string, graceSeconds: number): Promise<void> {
    const r = this.#load(uid, name);
    if (!r?.startedAt || this.runc.exit(r.id)) return;
    await this.runc.kill(r.id, 'TERM');
    setTimeout(() => {
      if (!this.runc.exit(r.id)) void this.runc.kill(r.id, 'KILL');
    }, graceSeconds * 1000).unref();
  }

  /**
   * Stops a deleted pod's containers as the kubelet does: SIGTERM, then SIGKILL once the grace period is over.
   * Returns true once nothing of the pod runs and its containers are removed.
   */
  async stopPod(pod: RuntimePod, graceSeconds: number): Promise<boolean> {
    const uid = pod.metadata!.uid!;
    let allStopped = true;
    for (const c of pod.spec?.containers ?? []) {
      const r = this.#load(uid, c.name);
      if (!r?.startedAt || this.runc.exit(r.id) || (await this.runc.status(r.id)) === 'missing') continue;
      allStopped = false;
      if (r.termSentAt === undefined) {
        await this.runc.kill(r.id, 'TERM');
        this.#save(uid, c.name, { ...r, termSentAt: Date.now() });
      } else if (Date.now() - r.termSentAt >= graceSeconds * 1000) {
        await this.runc.kill(r.id, 'KILL');
      }
    }
    if (!allStopped) return false;
    await this.removePod(uid);
    return true;
  }

  /** Kills and removes whatever is left of a pod (its containers, mounts, volumes and logs). */
  async removePod(uid: string): Promise<void> {
    // The forwarder is in the pod's namespace and keeps it alive: it ends with the pod.
    this.forwarders?.stop(uid);
    const dir = this.#podDir(uid);
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const r = this.#load(uid, name);
      if (!r) continue;
      await this.runc.kill(r.id, 'KILL');
      await this.#discard(uid, name, r);
    }
    rmSync(dir, { recursive: true, force: true });
    await exec('umount', [this.#netns(uid)]).catch(() => undefined);
    rmSync(this.#netns(uid), { force: true });
    const logs = join(this.#dir, 'logs');
    if (existsSync(logs))
      for (const d of readdirSync(logs))
        if (d.endsWith(`_${uid}`)) rmSync(join(logs, d), { recursive: true, force: true });
  }

  /** Pods the runtime still holds that the API no longer binds here (deleted while the stand-in was away). */
  podUids(): string[] {
    const dir = join(this.#dir, 'pods');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  /**
   * `runc checkpoint --leave-running` into a CRI-O archive at path (0600): checkpoint/ with CRIU's images, config.dump,
   * spec.dump, rootfs-diff.tar and deleted.files (the container's writable layer), bind.mounts, stats-dump, dump.log.
   */
  async checkpoint(pod: RuntimePod, container: string, path: string, timeoutSec: number): Promise<void> {
    if (this.settingNow() === 'none')
      throw new CheckpointFailure('Unknown', 'checkpoint/restore support not available');
    const uid = pod.metadata!.uid!;
    const r = this.#load(uid, container);
    if (!r?.startedAt || this.runc.exit(r.id) || (await this.runc.status(r.id)) !== 'running')
      throw new CheckpointFailure('Unknown', `container ${r?.id ?? container} is not running`);
    const work = join(this.#dir, 'checkpoint-work', `${r.id}-${Date.now()}`);
    mkdirSync(work, { recursive: true, mode: 0o700 });
    try {
      try {
        await this.runc.checkpoint(
          r.id,
          join(work, 'checkpoint'),
          work,
          timeoutSec > 0 ? timeoutSec * 1000 : 600_000,
        );
      } catch (err) {
        if (err instanceof RuntimeError)
          throw new CheckpointFailure(
            err.message === 'context deadline exceeded' ? 'DeadlineExceeded' : 'Unknown',
            err.message,
          );
        throw err;
      }
      const bundle = this.#bundle(uid, container, r.attempt);
      const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
        mounts?: { type?: string; destination: string; source: string }[];
      };
      const now = new Date();
      writeFileSync(
        join(work, 'config.dump'),
        JSON.stringify({
          id: r.id,
          name: `k8s_${container}_${pod.metadata?.name}_${pod.metadata?.namespace}_${uid}_${r.attempt}`,
          rootfsImage: r.baseImage,
          rootfsImageRef: r.baseImageId,
          rootfsImageName: r.baseImage,
          runtime: 'runc',
          createdTime: r.createdAt,
          checkpointedTime: now.toISOString(),
          restoredTime: r.restoredAt ?? '0001-01-01T00:00:00Z',
          restored: !!r.restoredAt,
        }),
      );
      writeFileSync(join(work, 'spec.dump'), readFileSync(join(bundle, 'config.json')));
      writeFileSync(
        join(work, 'bind.mounts'),
        JSON.stringify((spec.mounts ?? []).filter((m) => m.type === 'bind')),
      );
      const deleted = await writeRootfsDiff(join(bundle, 'upper'), join(work, 'rootfs-diff.tar'));
      writeFileSync(join(work, 'deleted.files'), JSON.stringify(deleted));
      const members = [
        'checkpoint',
        'config.dump',
        'spec.dump',
        'rootfs-diff.tar',
        'deleted.files',
        'bind.mounts',
      ];
      for (const f of ['stats-dump', 'dump.log']) if (existsSync(join(work, f))) members.push(f);
      const tmp = join(work, 'archive.tar');
      await exec('tar', ['-C', work, '-cf', tmp, ...members]);
      await chmod(tmp, 0o600);
      renameSync(tmp, path);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}

/**
 * The path of a file named by an archive inside the container's root, or undefined when it is not inside: every
 * component is looked at with lstat, and a path that goes through a symbolic link (which the archive's own
 * rootfs-diff.tar may have planted, pointing at the host's /) is refused rather than followed.
 */
async function insideRoot(root: string, name: string): Promise<string | undefined> {
  const parts = name.split('/').filter((x) => x && x !== '.');
  if (!parts.length || parts.includes('..')) return undefined;
  let p = root;
  for (const [i, part] of parts.entries()) {
    p = join(p, part);
    const st = await lstat(p).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink() && i < parts.length - 1) return undefined;
  }
  return p;
}

/** The container's writable layer as rootfs-diff.tar; overlay's whiteouts become deleted.files instead. */
async function writeRootfsDiff(upper: string, out: string): Promise<string[]> {
  const deleted: string[] = [];
  const members: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const st = await lstat(p);
      if (st.isCharacterDevice() && st.rdev === 0) deleted.push(relative(upper, p));
      else {
        members.push(relative(upper, p));
        if (st.isDirectory()) await walk(p);
      }
    }
  };
  if (existsSync(upper)) await walk(upper);
  const list = join(out, '..', 'rootfs-diff.list');
  writeFileSync(list, members.join('\n'));
  await exec('tar', [
    '-C',
    upper,
    '-cf',
    out,
    '--no-recursion',
    ...(members.length ? ['-T', list] : ['-T', '/dev/null']),
  ]);
  return deleted;
}

// suite: alone — replaces the agent of a member1 node with the image's; builds the image (both cores)
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { inPrivateMounts, useLocalAgent } from '../fed/agents.js';
import { chartPodNodes } from '../fed/chart-pods.js';
import { kubectl } from '../fed/kubectl.js';
import { fedDir, nodeRootDir, nodeStorage, repoRoot } from '../fed/paths.js';
import { probe } from '../fed/probe.js';
import { type ProcRecord, readState, startProcess, stopProcesses, writeState } from '../fed/procs.js';
import { backupYaml, nodeBuildah, runPod, waitPhase } from './agent-support.js';
import { eventually, unique } from './support.js';

// deploy/Containerfile built with buildah from the locally made base (e2e/scripts/node-base.sh), then run: its
// content with chroot, and as one node's agent against the local federation.
// The image is built under the name deploy/daemonset.yaml runs, so the test checks exactly that image.
const image = (
  parse(readFileSync(join(repoRoot, 'deploy/daemonset.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  }
).spec.template.spec.containers[0]!.image;
// A node of member1 whose agent is a local process (with FED_CHART_PODS=m1-b, m1-b's agent is the chart's pod); where
// both are chart pods, m1-b's agent is made a local process for the case (useLocalAgent) and its pod comes back after.
const node = ['m1-b', 'm1-a'].find((n) => !chartPodNodes().includes(n)) ?? 'm1-b';
const ns = unique('image');
/** A clean environment for commands run inside the image: the host's (CA paths, PATH) does not exist there. */
const imageEnv = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  NODE_EXTRA_CA_CERTS: '',
};

const buildah = (args: string[]): string =>
  execFileSync('buildah', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const inspect = <T>(args: string[]): T =>
  JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as T;

const imageConfig = () =>
  inspect<{
    config: {
      Entrypoint: string[];
      Cmd: string[];
      Env: string[];
      User: string;
      Labels: Record<string, string>;
    };
  }>(['inspect', '--config', `containers-storage:${image}`]).config;

describe('the agent image: deploy/Containerfile built with buildah', () => {
  let container = '';
  let rootfs = '';
  /** Runs a command inside the image's root filesystem, as root or as `user` (uid:gid). */
  const inImage = (args: string[], user?: string): string =>
    execFileSync('chroot', [...(user ? [`--userspec=${user}`] : []), rootfs, ...args], {
      encoding: 'utf8',
      env: imageEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  before(() => {
    // The build's log goes into the error if it fails; otherwise only the scripts' own lines (steps, times) show.
    const r = spawnSync('bash', ['e2e/scripts/agent-image.sh', image], { cwd: repoRoot, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`e2e/scripts/agent-image.sh failed:\n${r.stderr.slice(-4000)}`);
    console.log(
      r.stderr
        .split('\n')
        .filter((l) => /^\[[\d:]+\] (node-base|agent-image):/.test(l))
        .join('\n'),
    );
    assert.equal(r.stdout.trim(), image);
    container = buildah(['from', '--quiet', image]);
    rootfs = buildah(['mount', container]);
  });
  after(() => {
    if (container) buildah(['rm', container]);
  });

  it('has the agent as its entrypoint, one flattened layer, a non-root default user, and the version the CLI carries', () => {
    const cfg = imageConfig();
    assert.deepEqual(cfg.Entrypoint, ['node', '/app/dist/main.js']);
    assert.deepEqual(cfg.Cmd, ['agent']);
    // The pruned root filesystem is copied into one layer, so what was pruned is really gone (deploy/Containerfile).
    assert.equal(inspect<{ Layers: string[] }>(['inspect', `containers-storage:${image}`]).Layers.length, 1);
    assert.equal(cfg.User, '65532:65532');
    const version = (
      JSON.parse(readFileSync(join(repoRoot, 'packages/cli/package.json'), 'utf8')) as { version: string }
    ).version;
    assert.equal(cfg.Labels['org.opencontainers.image.version'], version);
    assert.ok(cfg.Env.includes(`STATEFUL_MIGRATION_VERSION=${version}`));
    assert.equal(inImage(['node', '/app/dist/main.js', '--version']).trim(), version);
  });

  it('holds nothing the agent and hub do not run: no npm, apt caches, docs, network plugins, gnupg or perl', () => {
    for (const gone of [
      'usr/local/bin/npm',
      'usr/local/lib/node_modules/npm',
      'usr/share/doc/buildah',
      'usr/lib/cni',
      'usr/bin/gpg',
      'usr/share/perl', // perl-modules; perl-base (dpkg's) keeps /usr/bin/perl
      'usr/sbin/iptables',
    ])
      assert.ok(!existsSync(join(rootfs, gone)), `${gone} is in the image`);
    assert.deepEqual(
      readdirSync(join(rootfs, 'var/cache/apt')).filter((f) => f.endsWith('.bin') || f === 'archives'),
      [],
    );
    assert.ok(
      !inImage(['find', '/app', '-name', '*.map', '-o', '-name', '*.d.ts']).trim(),
      'no maps or .d.ts',
    );
  });

  it('runs from its root filesystem: Node LTS, the CLI, buildah, checkpoint-store; production dependencies only', () => {
    // The LTS the unit and integration tests also run on (e2e/run sets LTS_NODE), and the version the base names.
    const version = inImage(['node', '--version']).trim();
    if (process.env.LTS_NODE)
      assert.equal(version, execFileSync(process.env.LTS_NODE, ['--version'], { encoding: 'utf8' }).trim());
    assert.match(inImage(['node', '/app/dist/main.js', '--help']), /agent \[options\]/);
    assert.match(inImage(['node', '/app/dist/main.js', 'agent', '--help']), /--storage-driver <driver>/);
    assert.match(inImage(['buildah', '--version']), /^buildah version \d+\.\d+/);
    // checkpoint-store in PATH, where the agent looks by default; static, so it runs on the image's libraries (none).
    // Its usage goes to stderr, with exit status 0 for --help.
    assert.equal(
      inImage(['sh', '-c', 'command -v checkpoint-store']).trim(),
      '/usr/local/bin/checkpoint-store',
    );
    assert.match(inImage(['sh', '-c', 'checkpoint-store --help 2>&1']), /-driver string/);
    // deploy/hub runs the same image as a non-root user.
    assert.match(
      inImage(['node', '/app/dist/main.js', 'hub', '--help'], '65532:65532'),
      /Usage: stateful-migration hub/,
    );
    const packages = readdirSync(join(rootfs, 'app/node_modules/.pnpm'));
    assert.ok(packages.some((p) => p.startsWith('@kubernetes+client-node@')));
    for (const dev of ['typescript@', 'eslint@', 'prettier@'])
      assert.ok(!packages.some((p) => p.startsWith(dev)), `no ${dev} in the image`);
    assert.ok(!existsSync(join(rootfs, 'app/src')), 'no sources in the image');
  });

  it("runs the agent's buildah commands (images, inspect, rmi) on a storage whose recorded network backend is netavark", () => {
    // buildah inspect sets up a network backend. A node's podman or buildah records its own in the storage
    // (graphroot/defaultNetworkBackend), netavark on a fresh node, and netavark is not in the image: the image's
    // containers.conf, named by its CONTAINERS_CONF, picks CNI, which sets up without plugins (deploy/Containerfile).
    // The storage is inside the root filesystem, so the chrooted buildah sees it at /tmp/<name>.
    const name = `buildah-${process.pid}`;
    const store = join(rootfs, 'tmp', name);
    const at = (root: string) => [
      '--root',
      `${root}/root`,
      '--runroot',
      `${root}/run`,
      '--storage-driver',
      'vfs',
    ];
    const c = buildah([...at(store), 'from', '--quiet', 'scratch']);
    buildah([...at(store), 'config', '--annotation', 'org.criu.checkpoint.container.name=app', c]);
    buildah([...at(store), 'commit', '--quiet', c, 'localhost/checkpoint-probe:1']);
    buildah([...at(store), 'rm', c]);
    writeFileSync(join(store, 'root', 'defaultNetworkBackend'), 'netavark');
    // The image's environment, as the pod gets it (chroot itself applies none), with /proc, which buildah reads.
    const env = Object.fromEntries(
      imageConfig().Env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]),
    );
    const run = (args: string[]) =>
      spawnSync(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          'mount -t proc proc "$1/proc" && shift && exec chroot "$@"',
          'sh',
          rootfs,
          rootfs,
          'buildah',
          ...at(`/tmp/${name}`),
          ...args,
        ],
        { encoding: 'utf8', env },
      );
    try {
      const images = run(['images', '--json', '--no-trunc']);
      assert.equal(images.status, 0, images.stderr);
      const [img] = JSON.parse(images.stdout) as { id: string }[];
      const inspected = run(['inspect', '--type', 'image', img!.id]);
      assert.equal(inspected.status, 0, inspected.stderr);
      assert.equal(
        (JSON.parse(inspected.stdout) as { ImageAnnotations: Record<string, string> }).ImageAnnotations[
          'org.criu.checkpoint.container.name'
        ],
        'app',
      );
      const digest = run([
        'inspect',
        '--type',
        'image',
        '--format',
        '{{.FromImageDigest}}',
        'localhost/checkpoint-probe:1',
      ]);
      assert.equal(digest.status, 0, digest.stderr);
      assert.match(digest.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
      const rmi = run(['rmi', 'localhost/checkpoint-probe:1']);
      assert.equal(rmi.status, 0, rmi.stderr);
      // And an image that is gone is said to be so, the one answer the retention sweep takes for "absent".
      const gone = run(['inspect', '--type', 'image', img!.id]);
      assert.notEqual(gone.status, 0);
      assert.match(gone.stderr.trim().split('\n').pop()!, /: image not known$/);
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  });

  describe(`as the agent of node ${node} on the local federation`, () => {
    const procName = `agent-${node}`;
    let original: ProcRecord | undefined;
    let fromImage: ProcRecord | undefined;
    let podBack: (() => Promise<void>) | undefined;

    before(async () => {
      podBack = await useLocalAgent(node);
      const state = readState()!;
      original = state.procs.find((p) => p.name === procName);
      assert.ok(original?.args, `the federation records ${procName}`);
      // The same flags as the federation's agent (after its main.js; onNodeRoot's wrapper before it); its files
      // (kubeconfig, token, CAs, the node's containers-storage) all live under .fed, bind-mounted at the same path,
      // and its checkpoint directory is the node's /var/lib/kubelet/checkpoints, bound there, as a DaemonSet's hostPaths.
      // All but --checkpoint-store, which names the machine's build of the helper: the image's agent uses what the
      // image has (the default, checkpoint-store in PATH).
      const flags = original.args
        .slice(original.args.findIndex((a) => a.endsWith('/main.js')) + 1)
        .filter((a) => !a.startsWith('--checkpoint-store='));
      assert.equal(flags[0], 'agent');
      for (const f of flags.filter((a) => a.includes('=/')))
        assert.ok(
          f.split('=')[1]!.startsWith(fedDir) || f === '--checkpoint-dir=/var/lib/kubelet/checkpoints',
          `${f} is under ${fedDir}`,
        );
      await stopProcesses([original]);
      state.procs = state.procs.filter((p) => p !== original && p.name !== procName);
      // A private mount namespace, so the binds go away with the process.
      const cmd = inPrivateMounts(
        [
          'root=$1 fed=$2 kubelet=$3; shift 3',
          'mkdir -p "$root$fed" && mount --rbind "$fed" "$root$fed"',
          'mkdir -p "$root/var/lib/kubelet" && mount --rbind "$kubelet" "$root/var/lib/kubelet"',
          'mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev"',
          // The image's skopeo (the fallback writer) made unrunnable, so a backup that completes was written by
          // the image's checkpoint-store.
          'mount --bind /dev/null "$root/usr/bin/skopeo"',
          'exec chroot "$root" "$@"',
        ],
        [rootfs, fedDir, nodeRootDir(node), 'node', '/app/dist/main.js', ...flags],
      );
      fromImage = startProcess(state, procName, cmd.exe, cmd.args, {
        env: imageEnv,
        ...(original.port ? { port: original.port } : {}),
      });
      await eventually(
        async () => ((await probe(`http://127.0.0.1:${original!.port}/readyz`)) ? true : undefined),
        60_000,
        `the image's agent for ${node} to be ready (log: ${fromImage.log})`,
      );
      await kubectl('member1', ['create', 'namespace', ns]);
    });

    after(async () => {
      await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
      if (original) {
        const state = readState()!;
        await stopProcesses(state.procs.filter((p) => p.name === procName));
        state.procs = state.procs.filter((p) => p.name !== procName);
        writeState(state);
        startProcess(
          state,
          procName,
          original.exe,
          original.args!,
          original.port ? { port: original.port } : {},
        );
        await eventually(
          async () => ((await probe(`http://127.0.0.1:${original!.port}/readyz`)) ? true : undefined),
          60_000,
          `the federation's agent for ${node} to be back`,
        );
      }
      // Then, where the node's agent was the chart's pod, the pod again.
      await podBack?.();
    });

    it("completes a CheckpointBackup, its image written by the image's own checkpoint-store into the node's storage", async () => {
      assert.equal(readlinkSync(`/proc/${fromImage!.pid}/root`), rootfs, 'the agent runs inside the image');
      const pod = await runPod('member1', ns, 'fromimage', node, ['app']);
      await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'fromimage', pod));
      const b = await waitPhase('member1', ns, 'fromimage', ['Completed', 'Failed']);
      assert.equal(b.status?.phase, 'Completed', b.status?.message);
      const img = b.status!.builtImages![0]!;
      const local = JSON.parse(nodeBuildah(node, ['inspect', '--type', 'image', img.imageName])) as {
        FromImageDigest: string;
      };
      assert.equal(local.FromImageDigest, img.digest);
      const { root, runroot } = nodeStorage(node);
      assert.equal(
        inspect<{ Digest: string }>([
          'inspect',
          `containers-storage:[vfs@${root}+${runroot}]${img.imageName}`,
        ]).Digest,
        img.digest,
      );
      // The agent found the image's checkpoint-store at start (ADR 0015) and did not fall back to skopeo.
      const log = readFileSync(fromImage!.log, 'utf8');
      assert.match(
        log,
        /"checkpointStore":"\/usr\/local\/bin\/checkpoint-store".*"msg":"local checkpoint images are written by checkpoint-store"/,
      );
      assert.doesNotMatch(log, /checkpoint-store not found/);
    });
  });
});

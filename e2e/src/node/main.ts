import { existsSync, mkdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { RestClient, rootLogger } from '@stateful-migration/kube';
import { duplicateListen, parseForwardRule } from './forward-rules.js';
import { PodForwarders } from './forwarding.js';
import { NodeHeartbeat } from './heartbeat.js';
import { KubeletServer } from './kubelet.js';
import { PodLifecycle } from './pods.js';
import { CHECKPOINT_RESTORE_SETTINGS, type CheckpointRestoreSetting } from './runtime/decisions.js';
import { ImageStore, type NodeRegistries } from './runtime/images.js';
import { NodeRuntime } from './runtime/runtime.js';

const program = new Command()
  .name('node-standin')
  .description(
    'Plays a kubelet towards the API for one Node (a heartbeat Lease, pod status, the checkpoint and containerLogs ' +
      'endpoints) over a real container runtime: runc under conmon, CRIU for checkpoints and restores.',
  )
  .requiredOption('--kubeconfig <path>', 'kubeconfig of the member apiserver')
  .requiredOption('--node <name>', 'the Node this process stands in for')
  .option('--address <ip>', 'the address the kubelet endpoint is reached at', '127.0.0.1')
  .option('--kubelet-port <port>', 'the kubelet endpoint port', '10250')
  .option('--node-octet <n>', 'second octet of the pod IPs handed out on this node', '1')
  .option('--label <k=v...>', 'extra node labels', [])
  .option(
    '--forward <listen=target...>',
    "what each pod reaches through its forwarder: <host:port the pod dials>=<host:port in the host's namespace>",
    [],
  )
  .requiredOption('--root-dir <dir>', 'the kubelet root; checkpoint archives go to <dir>/checkpoints')
  .requiredOption('--tls-cert <file>', 'serving certificate of the kubelet endpoint')
  .requiredOption('--tls-key <file>', 'its key')
  .requiredOption(
    '--client-ca <file>',
    'CA whose client certificates the kubelet endpoint accepts (the apiserver)',
  )
  .requiredOption('--runtime-dir <dir>', "the runtime's state: runc's root, images, containers, logs")
  .requiredOption('--criu <path>', 'the CRIU executable runc checkpoints and restores with')
  .requiredOption(
    '--registries <file>',
    "the node's registries.conf and pull credentials as JSON (mirrors, certDir, auths); read at each pull",
  )
  .option('--checkpointctl <path>', 'read every archive written with checkpointctl show (see archives.log)')
  .addOption(
    new Option(
      '--checkpoint-restore <setting>',
      "CRI-O's [crio.checkpoint_restore] container_level_enabled: what the runtime allows",
    )
      .choices(CHECKPOINT_RESTORE_SETTINGS)
      .default('checkpoint_restore'),
  );

program.parse();
const opts = program.opts<{
  kubeconfig: string;
  node: string;
  address: string;
  kubeletPort: string;
  nodeOctet: string;
  label: string[];
  forward: string[];
  rootDir: string;
  tlsCert: string;
  tlsKey: string;
  clientCa: string;
  runtimeDir: string;
  criu: string;
  registries: string;
  checkpointRestore: CheckpointRestoreSetting;
  checkpointctl?: string;
}>();

const log = rootLogger('node-standin').child({ node: opts.node });
const client = RestClient.fromFile(opts.kubeconfig);
const labels = Object.fromEntries(opts.label.map((l) => l.split('=', 2) as [string, string]));
const heartbeat = new NodeHeartbeat(
  client,
  { name: opts.node, address: opts.address, kubeletPort: Number(opts.kubeletPort), labels },
  log,
);
// The setting as CRI-O's configuration holds it, in a drop-in under the node's /etc: what the agent reads on a node.
// A node admin may edit it later (tests do): the runtime reads it again at each checkpoint and restore.
const crioConf = join(opts.rootDir, '..', 'etc', 'crio', 'crio.conf.d');
mkdirSync(crioConf, { recursive: true });
const settingFile = join(crioConf, '10-checkpoint-restore.conf');
writeFileSync(
  settingFile,
  `[crio.checkpoint_restore]\ncontainer_level_enabled = "${opts.checkpointRestore}"\n`,
);
const setting = (): CheckpointRestoreSetting => {
  const m = /^\s*container_level_enabled\s*=\s*"(\w+)"/m.exec(readFileSync(settingFile, 'utf8'));
  const v = m?.[1] as CheckpointRestoreSetting | undefined;
  return v && CHECKPOINT_RESTORE_SETTINGS.includes(v) ? v : 'checkpoint_only';
};
// The registry starts after the nodes: until it has written the file, only busybox is there to run.
const registries = (): NodeRegistries =>
  existsSync(opts.registries)
    ? (JSON.parse(readFileSync(opts.registries, 'utf8')) as NodeRegistries)
    : { mirrors: {}, auths: [] };
// CRI-O's decryption_keys_path (default /etc/crio/keys) under the node's root: the platform puts private keys there
// (`fed up` does, for the nodes of e2e/src/fed/members.ts's nodeDecryptionKeys); read at each pull, as CRI-O does.
const decryptionKeys = join(opts.rootDir, '..', 'etc', 'crio', 'keys');
// ADR 0011 step 3: each pod's forwarder listens in the pod's namespace on the addresses it is told about, and the
// connections come here over a Unix socket per rule, to be dialled in the host's namespace.
const rules = opts.forward.map(parseForwardRule);
const twice = duplicateListen(rules);
if (twice) throw new Error(`--forward names ${twice} twice`);
const forwarders = new PodForwarders(rules, join(opts.runtimeDir, 'forward'), log);
await forwarders.listen();
const runtime = new NodeRuntime(
  opts.runtimeDir,
  new ImageStore(join(opts.runtimeDir, 'images'), registries, decryptionKeys),
  opts.criu,
  setting,
  forwarders,
);
// The node's own root: its /etc (CRI-O's configuration, keys) and every hostPath a pod mounts are inside it.
const pods = new PodLifecycle(client, opts.node, Number(opts.nodeOctet), opts.address, log, runtime, {
  nodeRoot: join(opts.rootDir, '..'),
  kubeletRoot: opts.rootDir,
});

const kubelet = new KubeletServer({
  nodeName: opts.node,
  address: opts.address,
  port: Number(opts.kubeletPort),
  rootDir: opts.rootDir,
  tlsCert: opts.tlsCert,
  tlsKey: opts.tlsKey,
  clientCa: opts.clientCa,
  runtime,
  ...(opts.checkpointctl
    ? { checkpointctl: opts.checkpointctl, auditLog: join(opts.runtimeDir, 'archives.log') }
    : {}),
  client,
  pod: (ns, name) => pods.informer.get(`${ns}/${name}`),
  log,
});

await pods.start();
// conmon writes a file named by the container ID when a container exits: its pod's status follows at once.
const exits = join(opts.runtimeDir, 'exits');
mkdirSync(exits, { recursive: true });
watch(exits, (_e, file) => {
  if (!file) return;
  for (const p of pods.informer.list()) {
    const uid = p.metadata?.uid ?? '';
    if (p.spec?.containers.some((c) => runtime.record(uid, c.name)?.id === file))
      pods.poke(`${p.metadata?.namespace}/${p.metadata?.name}`);
  }
});
await kubelet.listen();
await heartbeat.start();
log.info('node stand-in ready');

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    heartbeat.stop();
    pods.stop();
    kubelet.close();
    forwarders.close();
    process.exit(0);
  });
}

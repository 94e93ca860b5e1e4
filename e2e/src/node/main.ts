import { Command } from 'commander';
import { RestClient, rootLogger } from '@stateful-migration/kube';
import { NodeHeartbeat } from './heartbeat.js';
import { KubeletServer } from './kubelet.js';
import { PodLifecycle } from './pods.js';
import { checkpointImageRuntime } from './images.js';
import { registryInfoPath } from '../fed/registry.js';

const program = new Command()
  .name('node-standin')
  .description(
    'Plays a kubelet towards the API for one Node: keeps it Ready with a heartbeat Lease and takes its pods to Running.',
  )
  .requiredOption('--kubeconfig <path>', 'kubeconfig of the member apiserver')
  .requiredOption('--node <name>', 'the Node this process stands in for')
  .option('--address <ip>', 'the address the kubelet endpoint is reached at', '127.0.0.1')
  .option('--kubelet-port <port>', 'the kubelet endpoint port', '10250')
  .option('--node-octet <n>', 'second octet of the pod IPs handed out on this node', '1')
  .option('--label <k=v...>', 'extra node labels', [])
  .requiredOption('--root-dir <dir>', 'the kubelet root; checkpoint archives go to <dir>/checkpoints')
  .requiredOption('--tls-cert <file>', 'serving certificate of the kubelet endpoint')
  .requiredOption('--tls-key <file>', 'its key');

program.parse();
const opts = program.opts<{
  kubeconfig: string;
  node: string;
  address: string;
  kubeletPort: string;
  nodeOctet: string;
  label: string[];
  rootDir: string;
  tlsCert: string;
  tlsKey: string;
}>();

const log = rootLogger('node-standin').child({ node: opts.node });
const client = RestClient.fromFile(opts.kubeconfig);
const labels = Object.fromEntries(opts.label.map((l) => l.split('=', 2) as [string, string]));
const heartbeat = new NodeHeartbeat(
  client,
  { name: opts.node, address: opts.address, kubeletPort: Number(opts.kubeletPort), labels },
  log,
);
// Images on the federation's registry are checked as CRI-O would restore them (registry.json appears once it is up).
const pods = new PodLifecycle(
  client,
  opts.node,
  Number(opts.nodeOctet),
  log,
  checkpointImageRuntime(client, registryInfoPath(), log),
);

const kubelet = new KubeletServer({
  nodeName: opts.node,
  port: Number(opts.kubeletPort),
  rootDir: opts.rootDir,
  tlsCert: opts.tlsCert,
  tlsKey: opts.tlsKey,
  client,
  pod: (ns, name) => pods.informer.get(`${ns}/${name}`),
  log,
});

await pods.start();
await kubelet.listen();
await heartbeat.start();
log.info('node stand-in ready');

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    heartbeat.stop();
    pods.stop();
    kubelet.close();
    process.exit(0);
  });
}

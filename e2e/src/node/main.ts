import { Command } from 'commander';
import { RestClient, rootLogger } from '@stateful-migration/kube';
import { NodeHeartbeat } from './heartbeat.js';
import { PodLifecycle } from './pods.js';

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
  .option('--label <k=v...>', 'extra node labels', []);

program.parse();
const opts = program.opts<{
  kubeconfig: string;
  node: string;
  address: string;
  kubeletPort: string;
  nodeOctet: string;
  label: string[];
}>();

const log = rootLogger('node-standin').child({ node: opts.node });
const client = RestClient.fromFile(opts.kubeconfig);
const labels = Object.fromEntries(opts.label.map((l) => l.split('=', 2) as [string, string]));
const heartbeat = new NodeHeartbeat(
  client,
  { name: opts.node, address: opts.address, kubeletPort: Number(opts.kubeletPort), labels },
  log,
);
const pods = new PodLifecycle(client, opts.node, Number(opts.nodeOctet), log);

await heartbeat.start();
await pods.start();
log.info('node stand-in ready');

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    heartbeat.stop();
    pods.stop();
    process.exit(0);
  });
}

/**
 * The forwarder of one pod (ADR 0011 step 3), started by the node stand-in inside the pod's network namespace
 * (`nsenter --net=<netns> node forward.js <host:port>=<socket>...`). It listens on each address the pod is told about
 * and carries each connection, bytes only (TLS stays end to end), over the rule's Unix socket to the stand-in in the
 * host's namespace. Plain `net`, no dependencies: it is one process per pod, kept small.
 *
 * It prints `ready` once every address is bound, so the stand-in starts the pod's containers only after, and exits
 * when its stdin closes: the stand-in died or stopped it, and a forwarder never outlives its pod or its node.
 */
import net from 'node:net';
import { parseForwarderArg } from './forward-rules.js';

const rules = process.argv.slice(2).map(parseForwarderArg);

function carry(local: net.Socket, socket: string): void {
  const remote = net.connect(socket);
  // Either side ending or failing ends both: the pod's client sees the connection close as it would on a refusal.
  local.on('error', () => remote.destroy());
  remote.on('error', () => local.destroy());
  local.pipe(remote).pipe(local);
}

await Promise.all(
  rules.map(
    (r) =>
      new Promise<void>((resolve, reject) => {
        const server = net.createServer((c) => carry(c, r.socket));
        server.once('error', reject);
        server.listen(r.listen.port, r.listen.host, () => resolve());
      }),
  ),
).catch((err: unknown) => {
  process.stderr.write(`forwarder: ${String(err)}\n`);
  process.exit(1);
});
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));

/**
 * The forwarder of one pod (ADR 0011 step 3), started by the node stand-in inside the pod's network namespace
 * (`nsenter --net=<netns> node forward.js <host:port>=<socket>...`). It listens on each address the pod is told about
 * and carries each connection, bytes only (TLS stays end to end), over the rule's Unix socket to the stand-in in the
 * host's namespace. Plain `net`, no dependencies: it is one process per pod, kept small. Each listener
 * holds at most MAX_CONNECTIONS_PER_RULE connections of the pod and closes idle ones.
 *
 * It prints `ready` once every address is bound, so the stand-in starts the pod's containers only after, and exits
 * when its stdin closes: the stand-in died or stopped it, and a forwarder never outlives its pod or its node.
 */
import { parseForwarderArg } from './forward-rules.js';
import { serveRule } from './forward-server.js';

const rules = process.argv.slice(2).map(parseForwarderArg);

// Each listener caps its connections and closes idle ones (forward-server.ts): a pod looping on connect would
// otherwise use up the descriptors of the stand-in that serves every pod on the node.
await Promise.all(rules.map((r) => serveRule(r.listen, r.socket))).catch((err: unknown) => {
  process.stderr.write(`forwarder: ${String(err)}\n`);
  process.exit(1);
});
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));

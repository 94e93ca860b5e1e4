import net from 'node:net';

/**
 * The most connections one pod may hold open through its forwarder on one rule. Each costs the shared node stand-in
 * two descriptors (the pod's Unix socket and the real dial); without a cap a pod looping on connect exhausts them,
 * and the node's kubelet and heartbeat fail with it (the node goes NotReady). 256 is far above what a pod's clients
 * (an agent's watches and requests) hold at once.
 */
export const MAX_CONNECTIONS_PER_RULE = 256;

/**
 * A relayed connection with no bytes either way for this long is closed. Long enough for an apiserver watch that
 * sees no events (clients re-list and re-watch on close, as they do when the apiserver ends a watch itself); short
 * enough that connections a pod opened and forgot do not hold the stand-in's descriptors for the pod's life.
 */
export const IDLE_TIMEOUT_MS = 15 * 60_000;

/** Carries each connection to `local` on to the Unix socket, bytes only; either side ending or failing ends both. */
export function carry(local: net.Socket, socket: string, idleMs: number): void {
  const remote = net.connect(socket);
  local.on('error', () => remote.destroy());
  remote.on('error', () => local.destroy());
  // Idle on the pod's side means idle on both: the pipe moves every byte through local.
  local.setTimeout(idleMs, () => {
    local.destroy();
    remote.destroy();
  });
  local.pipe(remote).pipe(local);
}

/**
 * One rule's listener in the pod: at most maxConnections at once (Node.js closes each further one as it arrives, which
 * the pod's client sees as a reset), each closed after idleMs without traffic. Resolves once it listens.
 */
export function serveRule(
  listen: { host: string; port: number },
  socket: string,
  opts: { maxConnections?: number; idleMs?: number } = {},
): Promise<net.Server> {
  const idleMs = opts.idleMs ?? IDLE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => carry(c, socket, idleMs));
    server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS_PER_RULE;
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

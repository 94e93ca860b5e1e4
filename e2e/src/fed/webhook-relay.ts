import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hubPods, isReadyPod } from './chart-hub.js';
import { fedDir } from './paths.js';
import { runningContainersOfPod } from './runtimes.js';

/**
 * The inbound path to the hub's webhook when the hub is the chart's pod (chart-hub.ts), in place of the Service and
 * whatever exposes it to the members' apiservers in a real installation (hub.webhook.url): the stand-in nodes give
 * pods no address the machine routes to (ADR 0011 does outbound only). Two halves, as the nodes' forwarders:
 *
 *   node webhook-relay.js <host:port> <podPort>   on the machine: listens where the members' apiservers call
 *     (hub.webhook.url), follows the hub Deployment's Ready pod, and carries each connection to a Unix socket;
 *   node webhook-relay.js --inner <socket> <podPort>   started by the first in the pod's network namespace
 *     (nsenter --net): listens on that socket and dials 127.0.0.1:<podPort> there, where the hub serves.
 *
 * TLS is end to end (the apiservers verify the hub's serving certificate, the hub their client certificate); this
 * only moves bytes. When the pod is replaced (deleted, rolled), the next Ready one is followed within 2 s.
 */

const [mode, a, b] = process.argv.slice(2);

function pipe(from: net.Socket, to: net.Socket): void {
  from.on('error', () => to.destroy());
  to.on('error', () => from.destroy());
  from.pipe(to).pipe(from);
}

if (mode === '--inner') {
  const socket = a!;
  const port = Number(b);
  rmSync(socket, { force: true });
  net.createServer((c) => pipe(c, net.connect(port, '127.0.0.1'))).listen(socket);
} else {
  const [host, portText] = mode!.split(':');
  const podPort = Number(a);
  const dir = join(fedDir, 'hub-webhook-relay');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let current: { uid: string; socket: string; inner: ChildProcess } | undefined;

  const follow = async (): Promise<void> => {
    const pod = (await hubPods().catch(() => [])).find(isReadyPod);
    if (!pod || pod.metadata.uid === current?.uid) return;
    const pid = runningContainersOfPod(pod.spec.nodeName!, pod.metadata.uid)[0]?.pid;
    if (!pid) return;
    current?.inner.kill();
    const socket = join(dir, `${pod.metadata.uid}.sock`);
    const inner = spawn(
      'nsenter',
      [
        `--net=/proc/${pid}/ns/net`,
        process.execPath,
        fileURLToPath(import.meta.url),
        '--inner',
        socket,
        String(podPort),
      ],
      { stdio: 'inherit' },
    );
    current = { uid: pod.metadata.uid, socket, inner };
    process.stdout.write(`${new Date().toISOString()} following ${pod.metadata.name} (pid ${pid})\n`);
  };
  const tick = (): void =>
    void follow()
      .catch((e: Error) => process.stdout.write(`${new Date().toISOString()} ${e.message}\n`))
      .finally(() => setTimeout(tick, 2000));
  tick();
  net
    .createServer((c) => {
      if (!current) return c.destroy();
      pipe(c, net.connect(current.socket));
    })
    .listen(Number(portText), host);
  const stop = (): void => {
    current?.inner.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * Forwarding through the filesystem (ADR 0011 step 3), its pure part. A pod's network namespace has only its
 * loopback; the services it is told about (its node's kubelet at status.hostIP:10250, the `kubernetes` Service's
 * ClusterIP:443, the registry's and the Karmada apiserver's host:port) live in the host's namespace. A TCP port does
 * not cross namespaces, a Unix socket path does: the forwarder in the pod listens on each address the pod is told
 * about and carries each connection over the rule's Unix socket to the stand-in, which dials the real address.
 */

export interface HostPort {
  host: string;
  port: number;
}

/** Connections to `listen` in a pod go to `target` in the host's network namespace. */
export interface ForwardRule {
  listen: HostPort;
  target: HostPort;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function hostPort(s: string, what: string): HostPort {
  const i = s.lastIndexOf(':');
  const host = s.slice(0, i);
  const port = Number(s.slice(i + 1));
  const m = IPV4.exec(host);
  if (i < 0 || !m || m.slice(1).some((o) => Number(o) > 255))
    throw new Error(`${what} "${s}" is not <IPv4 address>:<port>`);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${what} "${s}" has no port in 1..65535`);
  return { host, port };
}

const show = (h: HostPort): string => `${h.host}:${h.port}`;

/** `--forward=<listen host:port>=<target host:port>`, as `fed up` passes each rule to the node stand-in. */
export function parseForwardRule(spec: string): ForwardRule {
  const [listen, target, ...rest] = spec.split('=');
  if (listen === undefined || target === undefined || rest.length > 0)
    throw new Error(`forward rule "${spec}" is not <listen host:port>=<target host:port>`);
  return { listen: hostPort(listen, 'listen address'), target: hostPort(target, 'target address') };
}

/** Two rules on one listen address would have the forwarder fail to bind the second: refused at start instead. */
export function duplicateListen(rules: ForwardRule[]): string | undefined {
  const seen = new Set<string>();
  for (const r of rules) {
    const k = show(r.listen);
    if (seen.has(k)) return k;
    seen.add(k);
  }
  return undefined;
}

/** The Unix socket of rule i: one per rule and node, so the stand-in knows the target from the socket alone. */
export const ruleSocket = (socketDir: string, i: number): string => `${socketDir}/${i}.sock`;

/** The forwarder's arguments: each `<listen host:port>=<socket path>` (no secrets: argv is visible in ps). */
export function forwarderArgs(rules: ForwardRule[], socketDir: string): string[] {
  return rules.map((r, i) => `${show(r.listen)}=${ruleSocket(socketDir, i)}`);
}

/** The inverse, in the forwarder. */
export function parseForwarderArg(arg: string): { listen: HostPort; socket: string } {
  const i = arg.indexOf('=');
  const socket = arg.slice(i + 1);
  if (i < 0 || !socket.startsWith('/'))
    throw new Error(`forwarder argument "${arg}" is not <host:port>=<socket path>`);
  return { listen: hostPort(arg.slice(0, i), 'listen address'), socket };
}

/**
 * The addresses to add to the pod's lo before the forwarder binds them, once each. 127.0.0.1 is there already (lo
 * up gives 127.0.0.1/8); the rest of 127.0.0.0/8 would be reachable without it but is added too, so `ip addr` in the
 * pod shows what the pod is told (the node's address); every other address (a ClusterIP) must be added to bind it.
 */
export function addressesToAdd(rules: ForwardRule[]): string[] {
  return [...new Set(rules.map((r) => r.listen.host))].filter((h) => h !== '127.0.0.1');
}

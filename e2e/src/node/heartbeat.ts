import { isNotFound, microTime, type Logger, type RestClient } from '@stateful-migration/kube';

export interface NodeIdentity {
  name: string;
  /** Address other processes reach this node's kubelet endpoint at. */
  address: string;
  kubeletPort: number;
  labels?: Record<string, string>;
}

const capacity = { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '100Gi' };

/** Registers the Node and keeps it Ready: a heartbeat Lease every 10 s and a status refresh every 30 s, as a kubelet does. */
export class NodeHeartbeat {
  #timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly client: RestClient,
    private readonly node: NodeIdentity,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.#register();
    await this.#renewLease();
    await this.#updateStatus();
    this.#timers.push(
      setInterval(() => void this.#renewLease().catch((e) => this.#warn('lease', e)), 10_000),
    );
    this.#timers.push(
      setInterval(() => void this.#updateStatus().catch((e) => this.#warn('status', e)), 30_000),
    );
  }

  stop(): void {
    for (const t of this.#timers) clearInterval(t);
  }

  #warn(what: string, err: unknown): void {
    this.log.warn({ err: err instanceof Error ? err.message : String(err) }, `node ${what} update failed`);
  }

  async #register(): Promise<void> {
    const { name, labels } = this.node;
    try {
      await this.client.get(`/api/v1/nodes/${name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.request('POST', '/api/v1/nodes', {
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name,
            labels: {
              'kubernetes.io/hostname': name,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
              'stateful-migration.dcnlab.com/node-standin': 'true',
              ...labels,
            },
          },
          spec: {},
        },
      });
    }
  }

  async #renewLease(): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.node.name}`;
    const now = microTime(Date.now());
    try {
      const lease = await this.client.get<{ spec: Record<string, unknown> }>(path);
      lease.spec = {
        ...lease.spec,
        holderIdentity: this.node.name,
        renewTime: now,
        leaseDurationSeconds: 40,
      };
      await this.client.request('PUT', path, { body: lease });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.client.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.node.name, namespace: 'kube-node-lease' },
          spec: { holderIdentity: this.node.name, leaseDurationSeconds: 40, renewTime: now },
        },
      });
    }
  }

  async #updateStatus(): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.#since,
    });
    await this.client.request('PATCH', `/api/v1/nodes/${this.node.name}/status`, {
      contentType: 'application/strategic-merge-patch+json',
      body: {
        status: {
          capacity,
          allocatable: capacity,
          addresses: [
            { type: 'InternalIP', address: this.node.address },
            { type: 'Hostname', address: this.node.name },
          ],
          daemonEndpoints: { kubeletEndpoint: { Port: this.node.kubeletPort } },
          nodeInfo: {
            kubeletVersion: 'v1.35.4-standin',
            containerRuntimeVersion: 'cri-o://standin',
            operatingSystem: 'linux',
            architecture: 'amd64',
            osImage: 'stateful-migration node stand-in',
            kernelVersion: '',
            kubeProxyVersion: '',
            machineID: this.node.name,
            systemUUID: this.node.name,
            bootID: this.#since,
          },
          conditions: [
            condition('Ready', 'True', 'KubeletReady', 'node stand-in is posting ready status'),
            condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'stand-in'),
            condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'stand-in'),
            condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'stand-in'),
          ],
        },
      },
    });
  }

  readonly #since = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

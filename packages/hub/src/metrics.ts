import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The hub's Prometheus metrics. */
export class HubMetrics {
  readonly registry = new Registry();
  readonly leader = new Gauge({
    name: 'hub_leader',
    help: '1 while this process holds the leader Lease and acts; 0 on a standby.',
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'hub_reconciles_total',
    help: 'Reconciles, by kind of key and result.',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: 'hub_writes_total',
    help: 'Writes to the Karmada apiserver, by what was written.',
    labelNames: ['what'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hub_queue_depth',
    help: 'Keys waiting for a reconcile.',
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'hub_queue_wait_seconds',
    help: 'How long a key waited in a queue before its reconcile started, by queue and priority (backups: 2 a member answer not shown, 1 not yet placed, 0 the rest).',
    labelNames: ['queue', 'priority'],
    buckets: [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });
  readonly statusConflicts = new Counter({
    name: 'hub_status_conflicts_total',
    help: 'Status writes refused with 409 (the copy written from was stale), each followed by a fresh read.',
    registers: [this.registry],
  });
  readonly backups = new Gauge({
    name: 'hub_checkpointbackups',
    help: 'CheckpointBackups on the hub, by aggregate phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });

  /** Sets the gauges that are read rather than counted: the keys waiting in the queues, the backups by phase. */
  observe(queueDepth: number, backups: readonly { status?: { phase?: string } }[]): void {
    this.queueDepth.set(queueDepth);
    const counts = new Map<string, number>();
    for (const b of backups) {
      const p = b.status?.phase ?? 'Pending';
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
    this.backups.reset();
    for (const [phase, n] of counts) this.backups.set({ phase }, n);
  }
}

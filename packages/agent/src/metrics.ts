import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The agent's Prometheus metrics. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly phaseSeconds = new Histogram({
    name: 'checkpoint_phase_duration_seconds',
    help: 'Time spent in each step of a checkpoint run.',
    labelNames: ['step'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180],
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'checkpoint_failures_total',
    help: 'Failed checkpoint steps, by reason.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly runs = new Counter({
    name: 'checkpoint_runs_total',
    help: 'Checkpoint runs finished, by final phase.',
    labelNames: ['phase'],
    registers: [this.registry],
  });
  readonly retentionDeletions = new Counter({
    name: 'checkpoint_retention_deletions_total',
    help: 'Checkpoints deleted by retention, by store (archives, images, registry).',
    labelNames: ['store'],
    registers: [this.registry],
  });
  readonly retentionErrors = new Counter({
    name: 'checkpoint_retention_errors_total',
    help: 'Retention sweeps that left a store alone because it could not be read (images: buildah failed or timed out; registry: a registry failed), by store.',
    labelNames: ['store'],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'checkpoint_queue_depth',
    help: 'CheckpointBackups waiting for a reconcile, and checkpoints waiting for the node-wide limit.',
    labelNames: ['queue'],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'checkpoint_agent_api_requests_total',
    help: 'Requests this agent sent to its cluster apiserver, by verb and resource (watches included).',
    labelNames: ['verb', 'resource'],
    registers: [this.registry],
  });
}

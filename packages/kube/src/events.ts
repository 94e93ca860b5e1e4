import type { Logger } from './log.js';
import type { KubeObject } from './object.js';
import type { RestClient } from './rest.js';

export type EventType = 'Normal' | 'Warning';

/** Records core/v1 Events on objects; a failure to record is logged by the caller, never fatal. */
export class EventRecorder {
  constructor(
    private readonly client: RestClient,
    private readonly component: string,
    private readonly host?: string,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  /** Records an Event, and only logs when it cannot: an Event is never worth failing a reconcile for. */
  async emit(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    await this.record(obj, type, reason, message).catch((err: unknown) =>
      this.log?.warn({ err: String(err) }, 'could not record an event'),
    );
  }

  async record(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const now = new Date().toISOString();
    await this.client.request('POST', `/api/v1/namespaces/${namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${m.name ?? 'object'}.`, namespace },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
        reportingComponent: this.component,
        reportingInstance: this.host ?? this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }
}

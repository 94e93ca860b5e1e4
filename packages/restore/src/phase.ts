import type { CheckpointRestoreStatus, RestorePhase } from '@stateful-migration/api';

/** A pod status as a member reports it (and Karmada reflects it into the ResourceBinding). */
export interface PodStatus {
  phase?: string;
  reason?: string;
  message?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  containerStatuses?: {
    name?: string;
    ready?: boolean;
    state?: {
      waiting?: { reason?: string; message?: string };
      running?: Record<string, unknown>;
      terminated?: { exitCode?: number; reason?: string; message?: string };
    };
  }[];
}

/** The restored pod as seen through Karmada: the target cluster's entry in its ResourceBinding. */
export interface ObservedPod {
  applied?: boolean;
  appliedMessage?: string;
  status?: PodStatus;
}

export interface PhaseInput {
  status: CheckpointRestoreStatus;
  pod: ObservedPod | undefined;
  now: Date;
  timeoutSeconds: number;
}

export interface PhaseChange {
  phase: RestorePhase;
  reason: string;
  message: string;
}

/** Waiting reasons after which a kubelet will not run the container without a change (or only after backoff). */
export const FAILING_REASONS = [
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerError',
  'CreateContainerConfigError',
  'RunContainerError',
  'CrashLoopBackOff',
];

/** Running, and every container Ready: what "Restored" means. */
export function runningAndReady(s: PodStatus | undefined): boolean {
  if (s?.phase !== 'Running') return false;
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  if (ready) return ready.status === 'True';
  return !!s.containerStatuses?.length && s.containerStatuses.every((c) => c.ready);
}

/**
 * The phase of a submitted restore from the restored pod's observed status: Restored when Running and Ready;
 * Failed with the kubelet's reason on image pull, create and crash-loop errors, a failed pod or a container that
 * exited with an error, or when it has not run within the timeout; RestoreInProgress once the member reports it.
 * Undefined: nothing new.
 */
export function nextPhase(i: PhaseInput): PhaseChange | undefined {
  const cur = i.status.phase;
  if (cur !== 'RestoreSubmitted' && cur !== 'RestoreInProgress') return undefined;
  const s = i.pod?.status;
  if (runningAndReady(s))
    return { phase: 'Restored', reason: 'Restored', message: 'the restored pod is Running and Ready' };
  const failure = podFailure(s);
  if (failure) return { phase: 'Failed', ...failure };
  const since = Date.parse(i.status.submittedTime ?? '');
  if (Number.isFinite(since) && i.now.getTime() - since > i.timeoutSeconds * 1000)
    return {
      phase: 'Failed',
      reason: 'Timeout',
      message: `the restored pod did not run within ${i.timeoutSeconds}s (${describe(i.pod)})`,
    };
  if (s?.phase && cur === 'RestoreSubmitted')
    return {
      phase: 'RestoreInProgress',
      reason: 'PodStarting',
      message: `the restored pod is ${describe(i.pod)}`,
    };
  return undefined;
}

export function podFailure(s: PodStatus | undefined): { reason: string; message: string } | undefined {
  for (const c of s?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && FAILING_REASONS.includes(w.reason))
      return {
        reason: w.reason,
        message: `container ${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`,
      };
    const t = c.state?.terminated;
    if (t && t.exitCode !== 0)
      return {
        reason: t.reason || 'ContainerFailed',
        message: `container ${c.name} exited with code ${t.exitCode}${t.message ? `: ${t.message}` : ''}`,
      };
  }
  if (s?.phase === 'Failed')
    return {
      reason: s.reason || 'PodFailed',
      message: `the restored pod failed${s.message ? `: ${s.message}` : ''}`,
    };
  return undefined;
}

export function describe(pod: ObservedPod | undefined): string {
  if (!pod) return 'not yet in the target cluster';
  if (pod.applied === false)
    return `not applied to the target cluster: ${pod.appliedMessage ?? 'no reason given'}`;
  const s = pod.status;
  if (!s?.phase) return 'applied, no status yet';
  const waiting = (s.containerStatuses ?? [])
    .filter((c) => c.state?.waiting)
    .map((c) => `${c.name} waiting: ${c.state!.waiting!.reason ?? '?'}`);
  const unschedulable = s.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return [
    s.phase,
    ...(unschedulable ? [`unschedulable: ${unschedulable.message ?? ''}`] : []),
    ...waiting,
  ].join(', ');
}

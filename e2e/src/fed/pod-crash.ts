import { CRASH_EXIT_CODE, CRASH_MARKER_ENV } from '@stateful-migration/kube';

/** Where the crash marker's emptyDir is mounted in the hub's or the agent's pod. */
export const CRASH_DIR = '/run/stateful-migration-crash';

/**
 * The helm values that give the chart's hub or agent pod a test's environment (fault injection), as the local
 * process gets it from restartProcess: `<component>.extraEnv` with it, and with STATEFUL_MIGRATION_CRASH_MARKER on an
 * emptyDir, so that a crashed container the kubelet starts again stays down (crashInjection in kube) until the next
 * `helm upgrade` replaces the pod, as the local process stays down until the test starts it again. No environment:
 * the values that take the extras away (the chart's empty defaults).
 */
export function podEnvValues(component: 'hub' | 'agent', env: NodeJS.ProcessEnv): string[] {
  const vars = Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined);
  if (!vars.length) return [];
  const json = (key: string, v: unknown) => ['--set-json', `${component}.${key}=${JSON.stringify(v)}`];
  return [
    ...json('extraEnv', [
      ...vars.map(([name, value]) => ({ name, value })),
      { name: CRASH_MARKER_ENV, value: `${CRASH_DIR}/crashed` },
    ]),
    ...json('extraVolumes', [{ name: 'crash-marker', emptyDir: {} }]),
    ...json('extraVolumeMounts', [{ name: 'crash-marker', mountPath: CRASH_DIR }]),
  ];
}

/**
 * The pod annotation `kubectl rollout restart` sets, for `helm upgrade`: the pods are replaced even when the
 * environment is the one they have (the same crash point twice), as the local process is started again.
 */
export const rolloutValues = (component: 'hub' | 'agent', at = new Date()): string[] => [
  '--set-string',
  `${component}.podAnnotations.kubectl\\.kubernetes\\.io/restartedAt=${at.toISOString()}`,
];

export interface ContainerStatusView {
  restartCount?: number;
  state?: { running?: unknown; terminated?: { exitCode: number } };
  lastState?: { terminated?: { exitCode: number } };
}

/**
 * Whether a pod's container has exited since it was created, as kubectl shows it: its exit code (its current state,
 * or the last one while the kubelet restarts it), undefined while its first run goes on. An exit code other than an
 * injected crash's (99) throws: the test waits for its crash, not for another failure.
 */
export function injectedCrash(s: ContainerStatusView | undefined): boolean {
  const code = s?.state?.terminated?.exitCode ?? s?.lastState?.terminated?.exitCode;
  if (code === undefined) return false;
  if (code !== CRASH_EXIT_CODE)
    throw new Error(`the container exited ${code}, not the injected crash's ${CRASH_EXIT_CODE}`);
  return true;
}

/** A hub or agent a test started with restartHub or restartAgent: whether it has died (its injected crash). */
export interface Started {
  exited(): Promise<boolean>;
}

/** The container runs or has run (a crash before the test looked counts): the pod's process was started. */
export const hasRun = (s: ContainerStatusView | undefined): boolean =>
  !!s?.state?.running || !!s?.state?.terminated || !!s?.lastState?.terminated || (s?.restartCount ?? 0) > 0;

import { existsSync, writeFileSync } from 'node:fs';

/** Where the crash tests' fault injection is read from: the process's environment. */
export const CRASH_AFTER_ENV = 'STATEFUL_MIGRATION_CRASH_AFTER';
export const CRASH_MARKER_ENV = 'STATEFUL_MIGRATION_CRASH_MARKER';

/** The exit code of an injected crash, so a test tells it from any other exit. */
export const CRASH_EXIT_CODE = 99;

export interface CrashInjection {
  /** Called after each phase the process records; exits right after the one named, as a kill at that line would. */
  afterPhaseWritten?: (phase: string) => void;
}

/**
 * Fault injection for crash tests only: with STATEFUL_MIGRATION_CRASH_AFTER=<phase> the process exits (99) right
 * after it records that phase. A local process that exits stays down until the test starts it again; a pod's
 * container is started again by its kubelet (restartPolicy Always) with the same environment, and would resume
 * before the test looked at what the crash left. STATEFUL_MIGRATION_CRASH_MARKER=<file>, on a volume that outlives
 * the container (the pod's emptyDir), keeps it down as well: the crash writes the file, and a process that finds
 * it at start exits (99) before it does anything, until the test replaces the pod (a new pod, a new emptyDir).
 * Without these variables this does nothing.
 */
export function crashInjection(
  log: { warn(msg: string): void },
  env: NodeJS.ProcessEnv = process.env,
  exit: (code: number) => never = (code) => process.exit(code),
): CrashInjection {
  const at = env[CRASH_AFTER_ENV];
  if (!at) return {};
  const marker = env[CRASH_MARKER_ENV];
  if (marker && existsSync(marker)) {
    log.warn(`fault injection: crashed after ${at} before (${marker} exists): exiting at start`);
    exit(CRASH_EXIT_CODE);
  }
  log.warn(`fault injection: will exit after recording phase ${at}`);
  return {
    afterPhaseWritten: (phase) => {
      if (phase !== at) return;
      // The crash happens whatever befalls the marker: a process that went on past its crash point would let the
      // test see states the crash did not leave. Without the marker a restarted container runs on, which the
      // warning names.
      try {
        if (marker) writeFileSync(marker, `${phase}\n`);
      } catch (e) {
        log.warn(`fault injection: could not write ${marker}: ${(e as Error).message}`);
      }
      exit(CRASH_EXIT_CODE);
    },
  };
}

/**
 * Which integration and e2e test files may run beside another one (docs/adr/0017). Each says so in a marker comment
 * near its top, with its reason:
 *
 *   // suite: shares — own namespace, reads only its own objects
 *   // suite: alone — restarts the hub
 *
 * `shares`: the file works in its own namespaces and objects; it restarts, kills or reconfigures nothing every case
 * uses (the hub, the agents, the node stand-ins or their runtimes, the members, Karmada, the registry, the chart), cordons
 * and drains no node, installs or removes no cluster-wide webhook or policy that reaches other namespaces, and asserts
 * nothing global (the whole hub log, a global metrics counter, the registry's catalog, every Event, every archive)
 * that another case running at the same time could break. Anything else is `alone`. A file without a marker, or whose
 * marker gives no reason, is `alone`: a new case is safe until someone has checked that it shares nothing.
 *
 * run-tests.mjs runs the `shares` lane first, two files at a time, then the `alone` lane one file at a time.
 */
export type Lane = 'shares' | 'alone';

/** The marker: `// suite: <lane> — <reason>`, a line of its own among the file's first lines. */
const MARKER = /^\/\/ suite: (shares|alone) — \S/;
/** How far down a marker is looked for: "near its top", before the code. */
const MARKER_LINES = 40;

/** The lane a test file's source asks for; undefined when it has no valid marker (it then runs alone). */
export function markedLane(source: string): Lane | undefined {
  for (const line of source.split('\n', MARKER_LINES)) {
    const m = MARKER.exec(line);
    if (m) return m[1] as Lane;
  }
  return undefined;
}

export interface ClusterFile {
  /** The path run-tests.mjs passes to `node --test` (relative to the repository). */
  path: string;
  /** The file's text (the built .js: tsc keeps comments). */
  source: string;
}

export interface ClusterPlan {
  /** Run two at a time: e2e files first (the long ones start early), then the integration files fill the end. */
  shares: string[];
  /** Run one at a time after the shares lane, integration then e2e in name order: zz-every-archive is last. */
  alone: string[];
  /** Files without a valid marker (in `alone`), for run-tests.mjs to name. */
  unmarked: string[];
}

const isE2e = (p: string): boolean => p.includes('.e2e.');
const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
/** Integration before e2e, then by file name, so the order is the same on every machine. */
const byKindThenName = (a: string, b: string): number =>
  Number(isE2e(a)) - Number(isE2e(b)) || base(a).localeCompare(base(b)) || a.localeCompare(b);

/** Splits the cluster test files into the two lanes, each in the order it runs. */
export function planCluster(files: readonly ClusterFile[]): ClusterPlan {
  const plan: ClusterPlan = { shares: [], alone: [], unmarked: [] };
  for (const f of files) {
    const lane = markedLane(f.source);
    if (!lane) plan.unmarked.push(f.path);
    plan[lane ?? 'alone'].push(f.path);
  }
  plan.shares.sort(
    (a, b) => Number(isE2e(b)) - Number(isE2e(a)) || base(a).localeCompare(base(b)) || a.localeCompare(b),
  );
  plan.alone.sort(byKindThenName);
  plan.unmarked.sort(byKindThenName);
  return plan;
}

/** How one lane's `node --test` ended: its exit status, or the signal that killed it. */
export interface LaneEnd {
  status: number | null;
  signal: string | null;
}

/**
 * Runs the lanes in order and answers the run's status: the first failing lane's, or 0. A lane that fails does not
 * stop the next, so one failing case does not hide the other cases' results; but a run that was interrupted (^C,
 * CI's time limit: `interrupted()`), or a lane killed by a signal, stops here: the next lane would be a second run
 * past the deadline, and the log would end in its output instead of at the file that hung.
 */
export async function runLanes<L>(
  lanes: readonly L[],
  runLane: (lane: L) => Promise<LaneEnd>,
  interrupted: () => boolean,
): Promise<number> {
  let result = 0;
  for (const lane of lanes) {
    if (interrupted()) return result || 1;
    const end = await runLane(lane);
    if (result === 0) result = end.status ?? 1;
    if (end.signal || interrupted()) return result || 1;
  }
  return result;
}

/** The ten phases of seed 000, in the order a run passes through them. */
export const PHASES = [
  'Checkpointing',
  'Checkpointed',
  'ImageBuilding',
  'ImageBuilt',
  'ImagePushing',
  'ImagePushed',
  'Completed',
  'CompletedPodDeleted',
  'CompletedWithError',
  'Failed',
] as const;

export type Phase = (typeof PHASES)[number];

/** Phases after which a run has finished, well or not. */
export const FINISHED_PHASES: readonly Phase[] = [
  'Completed',
  'CompletedPodDeleted',
  'CompletedWithError',
  'Failed',
];

export function isPhase(v: unknown): v is Phase {
  return typeof v === 'string' && (PHASES as readonly string[]).includes(v);
}

export function isFinished(phase: string | undefined): boolean {
  return isPhase(phase) && FINISHED_PHASES.includes(phase);
}

/** Position in the run, for "least advanced" comparisons. */
export function phaseRank(phase: Phase): number {
  return PHASES.indexOf(phase);
}

/** What a hub object adds: Pending (not yet reported by any member) and Unknown (a member is not Ready). */
export const AGGREGATE_ONLY_PHASES = ['Pending', 'Unknown'] as const;
export type AggregatePhase = Phase | (typeof AGGREGATE_ONLY_PHASES)[number];

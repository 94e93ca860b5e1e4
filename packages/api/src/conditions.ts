import type { Condition } from './checkpoint-backup.js';

/** Sets a condition, keeping lastTransitionTime when the status did not change. */
export function setCondition(
  conditions: Condition[] | undefined,
  c: Omit<Condition, 'lastTransitionTime'>,
  now = new Date(),
): Condition[] {
  const list = conditions ?? [];
  const old = list.find((x) => x.type === c.type);
  const lastTransitionTime =
    old && old.status === c.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return [...list.filter((x) => x.type !== c.type), { ...c, lastTransitionTime }];
}

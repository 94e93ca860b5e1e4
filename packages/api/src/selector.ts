import type { LabelSelector } from './checkpoint-backup.js';

/**
 * Whether labels satisfy a Kubernetes label selector (an empty selector matches everything). The same rule as
 * hub/placement.ts's `matches`, here so that packages which the hub hosts (restore) can use it without a cycle.
 */
export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  return (selector.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    return { In: inValues, NotIn: !inValues, Exists: has, DoesNotExist: !has }[e.operator];
  });
}

import { createHash } from 'node:crypto';

/** The apiserver's limit on a label value (validation.IsValidLabelValue: 63 characters). */
export const MAX_LABEL_VALUE = 63;
/** The apiserver's limit on an object name (a DNS-1123 subdomain: 253 characters). */
export const MAX_OBJECT_NAME = 253;

/** `full` when it has at most `max` characters, else its start (ending in a letter or digit) and a hash of it all. */
export function bounded(full: string, max: number): string {
  if (full.length <= max) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, max - 11).replace(/[-._]+$/, '')}-${hash}`;
}

/**
 * A label value of at most 63 characters that stands for `full`: `full` itself when it fits (what every earlier
 * version wrote, so an upgrade finds its objects), else its first characters without trailing `.`, `-` or `_` (a
 * value ends in a letter or digit), `-`, and 10 hex characters of sha256 of the whole of `full`.
 * Object names go up to 253 characters and a namespace adds 63 more, so a label naming an object cannot always hold
 * the name: written as is, the apiserver refuses the object (422) on every retry. A bare cut would make two long names
 * that share their first 63 characters one owner; the hash keeps them apart and is the same in every process, so a
 * restarted controller matches what it labelled. Callers compare labels with this function, never with the name.
 */
export const labelValue = (full: string): string => bounded(full, MAX_LABEL_VALUE);

/**
 * An object name of at most 253 characters for `full` (a name derived from a user's, e.g. `<restore>-registry-pull`):
 * `full` itself when it fits, else its start without a trailing `.` or `-`, `-` and 10 hex characters of sha256 of
 * the whole. A bare cut at 253 can end in `-` (refused by the apiserver on every retry) or make two names one.
 */
export const objectName = (full: string): string => bounded(full, MAX_OBJECT_NAME);

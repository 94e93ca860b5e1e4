import { createHash } from 'node:crypto';

/** The apiserver's limit on a label value (validation.IsValidLabelValue: 63 characters). */
export const MAX_LABEL_VALUE = 63;

/**
 * A label value of at most 63 characters that stands for `full`: `full` itself when it fits (what every earlier
 * version wrote, so an upgrade finds its objects), else its first characters without trailing `.`, `-` or `_` (a
 * value ends in a letter or digit), `-`, and 10 hex characters of sha256 of the whole of `full`.
 * Object names go up to 253 characters and a namespace adds 63 more, so a label naming an object cannot always hold
 * the name: written as is, the apiserver refuses the object (422) on every retry. A bare cut would make two long names
 * that share their first 63 characters one owner; the hash keeps them apart and is the same in every process, so a
 * restarted controller matches what it labelled. Callers compare labels with this function, never with the name.
 */
export function labelValue(full: string): string {
  if (full.length <= MAX_LABEL_VALUE) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, MAX_LABEL_VALUE - 11).replace(/[-._]+$/, '')}-${hash}`;
}

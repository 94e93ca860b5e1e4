import { validateDetailed } from 'node-cron';
import { unsupportedCron } from './cron.js';

export const IMMEDIATELY = 'immediately';

export type Schedule =
  { kind: 'immediately' } | { kind: 'cron'; expression: string } | { kind: 'invalid'; message: string };

/**
 * Reads spec.schedule: "immediately" or a 5-field cron expression (minute hour day-of-month month day-of-week).
 * An invalid one comes back with a message that names the problem.
 */
export function parseSchedule(schedule: unknown): Schedule {
  if (typeof schedule !== 'string' || schedule.trim() === '') {
    return {
      kind: 'invalid',
      message: 'spec.schedule is empty: use "immediately" or a 5-field cron expression',
    };
  }
  const s = schedule.trim();
  if (s === IMMEDIATELY) return { kind: 'immediately' };
  const fields = s.split(/\s+/);
  if (fields.length !== 5) {
    return {
      kind: 'invalid',
      message: `spec.schedule "${s}" has ${fields.length} fields; expected "immediately" or 5 cron fields (minute hour day-of-month month day-of-week)`,
    };
  }
  const v = validateDetailed(s);
  if (!v.valid) {
    const why = v.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return { kind: 'invalid', message: `spec.schedule "${s}" is not a valid cron expression (${why})` };
  }
  const unsupported = unsupportedCron(s);
  if (unsupported) return { kind: 'invalid', message: `spec.schedule "${s}" ${unsupported}` };
  return { kind: 'cron', expression: s };
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSchedule } from './schedule.js';

describe('parseSchedule', () => {
  const cases: [unknown, string, RegExp?][] = [
    ['immediately', 'immediately'],
    ['  immediately ', 'immediately'],
    ['0 2 * * *', 'cron'],
    ['*/1 * * * *', 'cron'],
    ['30 4 1,15 * 1-5', 'cron'],
    ['', 'invalid', /is empty/],
    [undefined, 'invalid', /is empty/],
    [42, 'invalid', /is empty/],
    ['Immediately', 'invalid', /has 1 fields/],
    ['* * *', 'invalid', /has 3 fields; expected "immediately" or 5 cron fields/],
    ['0 * * * * *', 'invalid', /has 6 fields/],
    ['61 * * * *', 'invalid', /"61 \* \* \* \*" is not a valid cron expression \(minute: /],
    ['0 25 * * *', 'invalid', /\(hour: /],
    ['0 0 31 2 *', 'invalid', /dayOfMonth/],
    ['0 0 * 13 *', 'invalid', /month/],
    ['0 0 29 2 *', 'cron'],
    ['0 0 L * *', 'invalid', /"0 0 L \* \*" uses L, W or #/],
    ['0 0 * * 1#2', 'invalid', /not supported, as in Kubernetes CronJob/],
  ];
  for (const [input, kind, message] of cases) {
    it(`${JSON.stringify(input)} is ${kind}`, () => {
      const s = parseSchedule(input);
      assert.equal(s.kind, kind);
      if (message) assert.match((s as { message: string }).message, message);
    });
  }
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTimeZone, nextTick } from './cron.js';

const at = (s: string) => new Date(s);

describe('nextTick', () => {
  const cases: [string, string, string, string?][] = [
    ['* * * * *', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00.000Z'],
    ['* * * * *', '2026-01-01T00:00:59.999Z', '2026-01-01T00:01:00.000Z'],
    ['*/5 * * * *', '2026-01-01T00:03:00Z', '2026-01-01T00:05:00.000Z'],
    ['0 2 * * *', '2026-01-01T02:00:00Z', '2026-01-02T02:00:00.000Z'],
    ['0 2 * * *', '2026-01-01T01:59:00Z', '2026-01-01T02:00:00.000Z'],
    ['0 0 1 * *', '2026-01-15T00:00:00Z', '2026-02-01T00:00:00.000Z'],
    ['0 0 * * 1', '2026-01-01T00:00:00Z', '2026-01-05T00:00:00.000Z'], // 2026-01-05 is a Monday
    ['0 0 13 * 5', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00.000Z'], // Friday or the 13th
    ['0 0 29 2 *', '2026-03-01T00:00:00Z', undefined as unknown as string],
    ['0 2 * * *', '2026-01-01T00:00:00Z', '2026-01-01T01:00:00.000Z', 'Europe/Berlin'],
    ['30 9 * * *', '2026-07-01T00:00:00Z', '2026-07-01T13:30:00.000Z', 'America/New_York'],
  ];
  for (const [expr, after, want, tz] of cases) {
    it(`${expr} after ${after}${tz ? ` in ${tz}` : ''}`, () => {
      assert.equal(nextTick(expr, at(after), tz)?.toISOString(), want);
    });
  }
});

it('isTimeZone', () => {
  assert.equal(isTimeZone('UTC'), true);
  assert.equal(isTimeZone('Europe/Berlin'), true);
  assert.equal(isTimeZone('Mars/Olympus'), false);
});

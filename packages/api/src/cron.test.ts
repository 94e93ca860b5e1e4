import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'node-cron';
import { isTimeZone, nextTick, unsupportedCron } from './cron.js';

const at = (s: string) => new Date(s);

describe('nextTick', () => {
  const cases: [string, string, string | undefined, string?][] = [
    ['* * * * *', '2026-01-01T00:00:00Z', '2026-01-01T00:01:00.000Z'],
    ['* * * * *', '2026-01-01T00:00:59.999Z', '2026-01-01T00:01:00.000Z'],
    ['*/5 * * * *', '2026-01-01T00:03:00Z', '2026-01-01T00:05:00.000Z'],
    ['0 2 * * *', '2026-01-01T02:00:00Z', '2026-01-02T02:00:00.000Z'],
    ['0 2 * * *', '2026-01-01T01:59:00Z', '2026-01-01T02:00:00.000Z'],
    ['0 0 1 * *', '2026-01-15T00:00:00Z', '2026-02-01T00:00:00.000Z'],
    ['0 0 * * 1', '2026-01-01T00:00:00Z', '2026-01-05T00:00:00.000Z'], // 2026-01-05 is a Monday
    ['0 0 * * 7', '2026-01-01T00:00:00Z', '2026-01-04T00:00:00.000Z'], // 7 is Sunday too
    ['0 0 13 * 5', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00.000Z'], // Friday or the 13th
    ['0 0 ? * 5', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00.000Z'], // ? is *: Fridays only
    ['0 0 ? * 5', '2026-01-02T00:00:00Z', '2026-01-09T00:00:00.000Z'],
    ['0 0 */1 * 5', '2026-01-02T00:00:00Z', '2026-01-09T00:00:00.000Z'], // */1 is * (robfig)
    ['0 0 */2 * 5', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00.000Z'], // */2 restricts: odd days or Fridays
    ['0 0 */2 * 5', '2026-01-02T00:00:00Z', '2026-01-03T00:00:00.000Z'],
    ['59 23 31 12 *', '2026-01-01T00:00:00Z', '2026-12-31T23:59:00.000Z'],
    ['0 0 1 1 *', '2026-12-31T23:59:00Z', '2027-01-01T00:00:00.000Z'],
    // more than a year away: 29 February
    ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['0 0 29 2 *', '2028-02-29T00:00:00Z', '2032-02-29T00:00:00.000Z'],
    ['0 0 29 2 *', '2096-03-01T00:00:00Z', '2104-02-29T00:00:00.000Z'], // 2100 is not a leap year
    ['30 12 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T10:30:00.000Z', 'Europe/Helsinki'],
    // time zones
    ['0 2 * * *', '2026-01-01T00:00:00Z', '2026-01-01T01:00:00.000Z', 'Europe/Berlin'],
    ['30 9 * * *', '2026-07-01T00:00:00Z', '2026-07-01T13:30:00.000Z', 'America/New_York'],
    ['0 9 * * *', '2026-07-01T00:00:00Z', '2026-07-01T03:30:00.000Z', 'Asia/Kolkata'],
    ['0 9 * * *', '2026-07-01T00:00:00Z', '2026-07-01T03:15:00.000Z', 'Asia/Kathmandu'],
    ['0 0 1 * *', '2026-01-15T00:00:00Z', '2026-01-31T23:00:00.000Z', 'Europe/Berlin'], // month starts in Berlin
    ['0 0 * * 1', '2026-01-04T12:00:00Z', '2026-01-04T23:00:00.000Z', 'Europe/Berlin'], // Monday starts in Berlin
    // DST in Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET
    ['30 2 * * *', '2026-03-28T12:00:00Z', '2026-03-30T00:30:00.000Z', 'Europe/Berlin'], // skipped on the 29th
    ['0 3 * * *', '2026-03-28T12:00:00Z', '2026-03-29T01:00:00.000Z', 'Europe/Berlin'],
    ['30 2 * * *', '2026-10-24T12:00:00Z', '2026-10-25T00:30:00.000Z', 'Europe/Berlin'], // 02:30 CEST
    ['30 2 * * *', '2026-10-25T00:30:00Z', '2026-10-25T01:30:00.000Z', 'Europe/Berlin'], // 02:30 CET, again
    ['30 2 * * *', '2026-10-25T01:30:00Z', '2026-10-26T01:30:00.000Z', 'Europe/Berlin'],
    // America/Santiago: clocks go from 24:00 to 01:00 on 2026-09-06, so that midnight does not exist
    ['0 0 * * *', '2026-09-05T12:00:00Z', '2026-09-07T03:00:00.000Z', 'America/Santiago'],
    ['0 1 * * *', '2026-09-05T12:00:00Z', '2026-09-06T04:00:00.000Z', 'America/Santiago'],
    // Australia/Lord_Howe moves by 30 minutes: 2026-10-04 02:00 -> 02:30
    ['15 2 * * *', '2026-10-03T00:00:00Z', '2026-10-04T15:15:00.000Z', 'Australia/Lord_Howe'],
  ];
  for (const [expr, after, want, tz] of cases) {
    it(`${expr} after ${after}${tz ? ` in ${tz}` : ''}`, () => {
      assert.equal(nextTick(expr, at(after), tz)?.toISOString(), want);
    });
  }

  it('is cheap: a tick years away takes a few steps, not a scan of every minute', () => {
    const t0 = performance.now();
    let n = 0;
    for (let d = Date.UTC(2095, 0, 1); d < Date.UTC(2100, 0, 1); d += 86_400_000 * 7, n++)
      assert.ok(nextTick('0 0 29 2 *', new Date(d), 'Europe/Berlin'));
    const each = (performance.now() - t0) / n;
    assert.ok(each < 5, `${each.toFixed(2)} ms per call`);
  });
});

/**
 * Reference semantics, written the slow and obvious way: every minute, its wall-clock fields, robfig/cron's rules.
 * Compared with nextTick over random expressions, start times and zones (DST transitions included).
 */
describe('nextTick agrees with a minute-by-minute scan', () => {
  const fmt = new Map<string, Intl.DateTimeFormat>();
  const wall = (t: number, tz: string) => {
    let f = fmt.get(tz);
    if (!f) {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: tz,
        hourCycle: 'h23',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        weekday: 'short',
      });
      fmt.set(tz, f);
    }
    const g: Record<string, string> = {};
    for (const p of f.formatToParts(t)) g[p.type] = p.value;
    return {
      month: Number(g.month),
      day: Number(g.day),
      hour: Number(g.hour) % 24,
      minute: Number(g.minute),
      weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(g.weekday ?? ''),
    };
  };
  const scan = (expr: string, after: number, tz: string, horizonMinutes: number): number | undefined => {
    const p = parse(expr);
    const set = (xs: (number | string)[]) => new Set(xs.map(Number));
    const [, , dom = '*', , dow = '*'] = expr.split(' ');
    const star = (x: string) => x.split(',').some((s) => /^[*?](\/1)?$/.test(s));
    const [mi, h, d, mo] = [set(p.minute), set(p.hour), set(p.dayOfMonth), set(p.month)];
    const wd = new Set([...set(p.dayOfWeek)].map((x) => x % 7));
    let t = Math.floor(after / 60_000) * 60_000 + 60_000;
    for (let i = 0; i < horizonMinutes; i++, t += 60_000) {
      const w = wall(t, tz);
      if (!mi.has(w.minute) || !h.has(w.hour) || !mo.has(w.month)) continue;
      const [a, b] = [d.has(w.day), wd.has(w.weekday)];
      if (!star(dom) && !star(dow) ? a || b : a && b) return t;
    }
    return undefined;
  };

  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(xs: T[]): T => xs[rand(xs.length)]!;
  const field = (min: number, max: number, starWeight: number): string => {
    const r = rand(10);
    if (r < starWeight) return '*';
    const v = () => min + rand(max - min + 1);
    if (r < starWeight + 2) return `*/${2 + rand(5)}`;
    if (r < starWeight + 4) {
      const a = v();
      return `${a}-${Math.min(max, a + rand(6))}`;
    }
    if (r < starWeight + 6) return [...new Set([v(), v(), v()])].sort((x, y) => x - y).join(',');
    return String(v());
  };
  const zones = [
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kolkata',
    'Australia/Lord_Howe',
    'America/Santiago',
  ];
  // starts next to the DST transitions of those zones in 2026, and elsewhere
  const starts = [
    '2026-03-08T05:00:00Z',
    '2026-03-28T20:00:00Z',
    '2026-04-04T12:00:00Z',
    '2026-09-05T20:00:00Z',
    '2026-10-03T12:00:00Z',
    '2026-10-24T20:00:00Z',
    '2026-11-01T03:00:00Z',
    '2026-06-15T11:11:00Z',
    '2026-12-31T22:00:00Z',
  ].map(Date.parse);
  const HORIZON = 8 * 24 * 60; // a week and a day: expressions below always fire within it, or are compared as "not yet"

  for (let k = 0; k < 60; k++) {
    const expr = [
      field(0, 59, 2),
      field(0, 23, 3),
      pick(['*', '*', '*', field(1, 31, 0)]),
      '*',
      pick(['*', '*', field(0, 6, 0)]),
    ].join(' ');
    const tz = pick(zones);
    const after = pick(starts) + rand(3) * 3_600_000;
    it(`${expr} in ${tz} after ${new Date(after).toISOString()}`, () => {
      const want = scan(expr, after, tz, HORIZON);
      const got = nextTick(expr, new Date(after), tz)?.getTime();
      if (want === undefined) assert.ok(got === undefined || got > after + HORIZON * 60_000, `got ${got}`);
      else assert.equal(got && new Date(got).toISOString(), new Date(want).toISOString());
    });
  }
});

it('unsupportedCron names Quartz extensions that node-cron takes and Kubernetes does not', () => {
  for (const e of ['0 0 L * *', '0 0 15W * *', '0 0 * * 1#2', '0 0 * * 5L'])
    assert.match(unsupportedCron(e) ?? '', /not supported/, e);
  for (const e of ['0 0 * * MON-FRI', '0 0 * JUL *', '0 0 ? * *', '*/5 * * * *', '0 0 * * 0,6'])
    assert.equal(unsupportedCron(e), undefined, e);
});

it('isTimeZone', () => {
  assert.equal(isTimeZone('UTC'), true);
  assert.equal(isTimeZone('Europe/Berlin'), true);
  assert.equal(isTimeZone('Mars/Olympus'), false);
});

import { parse } from 'node-cron';

interface Fields {
  minute: Set<number>;
  hour: Set<number>;
  dayOfMonth: Set<number>;
  month: Set<number>;
  dayOfWeek: Set<number>;
  domStar: boolean;
  dowStar: boolean;
}

function fields(expression: string): Fields {
  const p = parse(expression);
  const nums = (xs: (number | string)[]) => new Set(xs.map(Number));
  const [, , , dom = '*', , dow = '*'] = ['', ...expression.trim().split(/\s+/)];
  return {
    minute: nums(p.minute),
    hour: nums(p.hour),
    dayOfMonth: nums(p.dayOfMonth),
    month: nums(p.month),
    dayOfWeek: new Set([...nums(p.dayOfWeek)].map((d) => d % 7)),
    domStar: dom === '*',
    dowStar: dow === '*',
  };
}

const partsCache = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock fields of t in a time zone. */
function wallClock(
  t: number,
  timeZone: string,
): { minute: number; hour: number; day: number; month: number; weekday: number } {
  let f = partsCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      minute: 'numeric',
      hour: 'numeric',
      day: 'numeric',
      month: 'numeric',
      weekday: 'short',
    });
    partsCache.set(timeZone, f);
  }
  const get: Record<string, string> = {};
  for (const p of f.formatToParts(t)) get[p.type] = p.value;
  const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return {
    minute: Number(get.minute),
    hour: Number(get.hour),
    day: Number(get.day),
    month: Number(get.month),
    weekday: weekdays.indexOf(get.weekday ?? ''),
  };
}

function matches(f: Fields, t: number, timeZone: string): boolean {
  const w = wallClock(t, timeZone);
  if (!f.minute.has(w.minute) || !f.hour.has(w.hour) || !f.month.has(w.month)) return false;
  const dom = f.dayOfMonth.has(w.day);
  const dow = f.dayOfWeek.has(w.weekday);
  // Vixie cron: when both day fields are restricted, either may match.
  if (!f.domStar && !f.dowStar) return dom || dow;
  return dom && dow;
}

const MINUTE = 60_000;

/** The first tick of a 5-field cron expression strictly after `after`, in timeZone (default UTC). */
export function nextTick(expression: string, after: Date, timeZone = 'UTC'): Date | undefined {
  const f = fields(expression);
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  for (let i = 0; i < 366 * 24 * 60 + 1; i++, t += MINUTE) if (matches(f, t, timeZone)) return new Date(t);
  return undefined;
}

/** Whether a valid IANA time zone name. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

import { parse } from 'node-cron';

/** A parsed 5-field expression: the allowed values of each field (node-cron parses the syntax). */
interface Fields {
  /** Sorted. */
  minute: number[];
  hour: Set<number>;
  dayOfMonth: Set<number>;
  month: Set<number>;
  /** The months, sorted. */
  months: number[];
  /** 0 = Sunday; 7 is folded into 0. */
  dayOfWeek: Set<number>;
  /** Whether a day field is unrestricted, which decides how the two combine (see dayMatches). */
  domStar: boolean;
  dowStar: boolean;
}

/** As Kubernetes CronJob (robfig/cron): `*` or `?`, with no step or a step of 1, leaves a day field unrestricted. */
const isStar = (field: string): boolean => field.split(',').some((p) => /^[*?](\/1)?$/.test(p));

const fieldsCache = new Map<string, Fields>();

function fields(expression: string): Fields {
  const cached = fieldsCache.get(expression);
  if (cached) return cached;
  const p = parse(expression);
  const nums = (xs: (number | string)[]) => xs.map(Number).filter((n) => Number.isInteger(n));
  const [, , dom = '*', , dow = '*'] = expression.trim().split(/\s+/);
  const f: Fields = {
    minute: [...new Set(nums(p.minute))].sort((a, b) => a - b),
    hour: new Set(nums(p.hour)),
    dayOfMonth: new Set(nums(p.dayOfMonth)),
    month: new Set(nums(p.month)),
    months: [...new Set(nums(p.month))].sort((a, b) => a - b),
    dayOfWeek: new Set(nums(p.dayOfWeek).map((d) => d % 7)),
    domStar: isStar(dom),
    dowStar: isStar(dow),
  };
  if (fieldsCache.size > 1000) fieldsCache.clear();
  fieldsCache.set(expression, f);
  return f;
}

/**
 * Why a 5-field expression that node-cron accepts cannot be used as a schedule here, if it cannot: node-cron also
 * takes Quartz's L, W and # (last day, nearest weekday, nth weekday), which Kubernetes CronJob does not, and which
 * this scheduler would otherwise silently never fire.
 */
export function unsupportedCron(expression: string): string | undefined {
  const [, , dom = '', , dow = ''] = expression.trim().split(/\s+/);
  if (/[LW#]/i.test(dom.replace(/\b[A-Z]{3}\b/gi, '')) || /[L#]/i.test(dow.replace(/\b[A-Z]{3}\b/gi, '')))
    return 'uses L, W or # (last day, nearest weekday, nth weekday), which are not supported, as in Kubernetes CronJob';
  return undefined;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/** Wall-clock fields of t in a time zone. */
function wallClock(t: number, timeZone: string): Wall {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  const get: Record<string, string> = {};
  for (const p of f.formatToParts(t)) get[p.type] = p.value;
  return {
    year: Number(get.year),
    month: Number(get.month),
    day: Number(get.day),
    hour: Number(get.hour) % 24,
    minute: Number(get.minute),
    second: Number(get.second),
    weekday: WEEKDAYS.indexOf(get.weekday ?? ''),
  };
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/**
 * How far ahead a tick is looked for. A 29 February tick can be eight years away (2096 to 2104: 2100 is not a leap
 * year); robfig/cron's five years would miss it.
 */
const HORIZON_MS = 10 * 366 * DAY;

/** The instant of a wall-clock time in a zone; for a time a DST gap skips, an instant next to the gap. */
function instantOf(timeZone: string, year: number, month: number, day: number, hour = 0, minute = 0): number {
  const wanted = Date.UTC(year, month - 1, day, hour, minute);
  const offset = (t: number) => {
    const w = wallClock(t, timeZone);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000;
  };
  const first = wanted - offset(wanted);
  return wanted - offset(first);
}

/** The first day after w's in w's month whose date and weekday match, by arithmetic rather than a step per day. */
function laterDay(f: Fields, w: Wall): number | undefined {
  const last = new Date(Date.UTC(w.year, w.month, 0)).getUTCDate();
  for (let day = w.day + 1; day <= last; day++)
    if (dayMatches(f, { ...w, day, weekday: (w.weekday + day - w.day) % 7 })) return day;
  return undefined;
}

/** Vixie cron and robfig/cron: when both day fields are restricted, either may match; otherwise both must. */
function dayMatches(f: Fields, w: Pick<Wall, 'day' | 'weekday'>): boolean {
  const dom = f.dayOfMonth.has(w.day);
  const dow = f.dayOfWeek.has(w.weekday);
  return !f.domStar && !f.dowStar ? dom || dow : dom && dow;
}

/**
 * The earliest instant after t that could match, skipping the rest of a month, day or hour that cannot; undefined
 * when t matches.
 */
function candidate(f: Fields, t: number, timeZone: string): number | undefined {
  const w = wallClock(t, timeZone);
  if (!f.month.has(w.month)) {
    const month = f.months.find((m) => m > w.month);
    return month ? instantOf(timeZone, w.year, month, 1) : instantOf(timeZone, w.year + 1, f.months[0]!, 1);
  }
  if (!dayMatches(f, w)) {
    const day = laterDay(f, w);
    return day ? instantOf(timeZone, w.year, w.month, day) : instantOf(timeZone, w.year, w.month + 1, 1);
  }
  if (!f.hour.has(w.hour)) return t + (60 - w.minute) * MINUTE;
  const m = f.minute.find((x) => x >= w.minute);
  return m === w.minute ? undefined : t + ((m ?? 60) - w.minute) * MINUTE;
}

/**
 * The first tick of a 5-field cron expression strictly after `after`, in timeZone (default UTC); undefined when
 * none comes within ten years. Like robfig/cron (Kubernetes CronJob), it walks instants and matches their wall-clock
 * fields, skipping a whole month, day or hour that cannot match at once, so a tick years away (29 February) costs a
 * few dozen steps, not a scan of every minute (which took over a second and gave up after a year). Across DST, a
 * wall-clock time the clocks skip never fires and one they repeat fires at each occurrence.
 */
export function nextTick(expression: string, after: Date, timeZone = 'UTC'): Date | undefined {
  const f = fields(expression);
  if (!f.minute.length || !f.hour.size || !f.months.length) return undefined;
  let t = Math.floor(after.getTime() / MINUTE) * MINUTE + MINUTE;
  for (const end = t + HORIZON_MS; t <= end;) {
    const next = candidate(f, t, timeZone);
    if (next === undefined) return new Date(t);
    // Never backwards: next to a DST gap, the instant of a skipped midnight can land before t.
    t = Math.max(next, t + MINUTE);
  }
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

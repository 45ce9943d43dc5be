/**
 * The `--calendar` text form of a Temporal CalendarSpec, both ways: "dayOfMonth=1
 * month=JANUARY,APRIL,JULY,OCTOBER hour=3" -> CalendarSpec, and a described calendar back to the
 * same form (a cron expression comes back from the server as a calendar, so `describe` shows it so).
 */
import {
  DAYS_OF_WEEK,
  MONTHS,
  type CalendarSpec,
  type CalendarSpecDescription,
  type DayOfWeek,
  type LooseRange,
  type Month,
  type Range,
} from '@temporalio/client';

const NUMBER_FIELDS = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  year: [1970, 9999],
} as const;
type NumberField = keyof typeof NUMBER_FIELDS;

/** In the order a reader expects, smallest unit first. */
const FIELD_ORDER = ['second', 'minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek', 'year'] as const;

const FIELDS_HELP = 'second, minute, hour, dayOfMonth, month, dayOfWeek, year';

function isNumberField(key: string): key is NumberField {
  return key in NUMBER_FIELDS;
}

/** One item of a number field: "*", "5", "1-3", "0-30/10", or a star followed by "/10". */
function parseNumberItem(field: NumberField, item: string): LooseRange<number> | '*' {
  const [min, max] = NUMBER_FIELDS[field];
  if (item === '*') return '*';
  const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
  if (!m) throw new Error(`calendar: ${field} "${item}" is not a number, a range (1-3) or a step (*/10)`);
  const start = m[1] === '*' ? min : Number(m[2]);
  const end = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : undefined;
  const step = m[4] !== undefined ? Number(m[4]) : undefined;
  for (const value of [start, end]) {
    if (value !== undefined && (value < min || value > max)) {
      throw new Error(`calendar: ${field} ${value} is out of range ${min}-${max}`);
    }
  }
  if (end !== undefined && end < start) throw new Error(`calendar: ${field} range "${item}" ends before it starts`);
  if (step === 0) throw new Error(`calendar: ${field} step must be at least 1`);
  if (step !== undefined) return { start, end: end ?? max, step };
  return end === undefined ? start : { start, end };
}

function parseNameItem<N extends string>(field: string, names: readonly N[], item: string): LooseRange<N> | '*' {
  if (item === '*') return '*';
  const name = (text: string): N => {
    const upper = text.toUpperCase();
    const found = names.find((n) => n === upper);
    if (!found) throw new Error(`calendar: ${field} "${text}" is not one of ${names.join(', ')}`);
    return found;
  };
  const m = /^(\*|([A-Za-z]+)(?:-([A-Za-z]+))?)(?:\/(\d+))?$/.exec(item);
  if (!m) throw new Error(`calendar: ${field} "${item}" is not a name, a range (MONDAY-FRIDAY) or a step (*/3)`);
  const start = m[1] === '*' ? names[0]! : name(m[2]!);
  const end = m[1] === '*' ? names[names.length - 1]! : m[3] !== undefined ? name(m[3]) : undefined;
  const step = m[4] !== undefined ? Number(m[4]) : undefined;
  if (end !== undefined && names.indexOf(end) < names.indexOf(start)) {
    throw new Error(`calendar: ${field} range "${item}" ends before it starts`);
  }
  if (step === 0) throw new Error(`calendar: ${field} step must be at least 1`);
  if (step !== undefined) return { start, end: end ?? names[names.length - 1]!, step };
  return end === undefined ? start : { start, end };
}

/** A field's items: one "*" stands alone, otherwise a list of values and ranges. */
function collect<T>(field: string, items: (T | '*')[]): T[] | '*' {
  if (items.includes('*')) {
    if (items.length > 1) throw new Error(`calendar: ${field} "*" cannot be combined with other values`);
    return '*';
  }
  return items as T[];
}

/**
 * "dayOfMonth=1 month=JANUARY,APRIL,JULY,OCTOBER hour=3" -> CalendarSpec. Numbers take values,
 * ranges and steps ("hour=1-3", "second=0-59/10"); month and dayOfWeek take names the same way.
 * Unset second, minute and hour mean 0 (Temporal's defaults); the other fields mean any.
 */
export function parseCalendar(text: string): CalendarSpec {
  const spec: CalendarSpec = {};
  const seen = new Set<string>();
  for (const part of text.split(/[\s;]+/).filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq > 0 ? part.slice(0, eq) : '';
    const value = eq > 0 ? part.slice(eq + 1) : '';
    if (!key || !value) throw new Error(`calendar: "${part}" is not key=value`);
    if (seen.has(key)) throw new Error(`calendar: ${key} is given twice`);
    seen.add(key);
    const items = value.split(',');
    if (isNumberField(key)) {
      spec[key] = collect(
        key,
        items.map((item) => parseNumberItem(key, item)),
      );
    } else if (key === 'month') {
      spec.month = collect(
        key,
        items.map((item) => parseNameItem<Month>(key, MONTHS, item)),
      );
    } else if (key === 'dayOfWeek') {
      spec.dayOfWeek = collect(
        key,
        items.map((item) => parseNameItem<DayOfWeek>(key, DAYS_OF_WEEK, item)),
      );
    } else {
      throw new Error(`calendar: unknown field "${key}" (use ${FIELDS_HELP})`);
    }
  }
  if (seen.size === 0) throw new Error('calendar: empty');
  return spec;
}

const FULL_RANGE: Record<(typeof FIELD_ORDER)[number], readonly [string | number, string | number] | undefined> = {
  second: [0, 59],
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  month: ['JANUARY', 'DECEMBER'],
  dayOfWeek: ['SUNDAY', 'SATURDAY'],
  year: undefined,
};

function renderRange<U extends string | number>(r: Range<U>, full: readonly [U, U] | undefined): string {
  const step = r.step > 1 ? `/${r.step}` : '';
  if (full && r.start === full[0] && r.end === full[1]) return `*${step}`;
  return `${r.start}${r.end !== r.start ? `-${r.end}` : ''}${step}`;
}

/** A described calendar in parseCalendar's form; fields that match anything are left out (but second, minute, hour never are). */
export function renderCalendar(c: CalendarSpecDescription): string {
  const parts: string[] = [];
  for (const field of FIELD_ORDER) {
    const ranges = c[field] as Range<string | number>[];
    const full = FULL_RANGE[field];
    const text = ranges.length === 0 ? '*' : ranges.map((r) => renderRange(r, full)).join(',');
    const anyByDefault = field !== 'second' && field !== 'minute' && field !== 'hour';
    if (text === '*' && anyByDefault) continue;
    parts.push(`${field}=${text}`);
  }
  return parts.join(' ');
}

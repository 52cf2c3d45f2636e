/**
 * SMPP 3.4 time fields (§7.1.1): schedule_delivery_time and validity_period,
 * absolute "YYMMDDhhmmsstnnp" (p '+' or '-': nn quarter hours ahead of or
 * behind UTC) or relative "YYMMDDhhmmss000R" (years counted as 365 days,
 * months as 30). Read into milliseconds since 1970; '' is "not given".
 */

export type SmppTime = { ok: true; ms: number | undefined } | { ok: false; error: string };

const SHAPE = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d)(\d{2})([+R-])$/;

export function readSmppTime(field: string, now: number): SmppTime {
  if (field === '') return { ok: true, ms: undefined };
  const m = SHAPE.exec(field);
  if (m === null) return { ok: false, error: `${JSON.stringify(field)} is not an SMPP time (YYMMDDhhmmsstnnp, p "+", "-" or "R")` };
  const [yy, mo, dd, hh, mi, ss, t, nn] = m.slice(1, 9).map(Number) as [number, number, number, number, number, number, number, number];
  const p = m[9];
  if (p === 'R') return { ok: true, ms: now + ((((yy * 365 + mo * 30 + dd) * 24 + hh) * 60 + mi) * 60 + ss) * 1000 };
  if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 || ss > 59) return { ok: false, error: `${JSON.stringify(field)} is not a valid date and time` };
  const local = Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss, t * 100);
  const offset = nn * 15 * 60_000;
  return { ok: true, ms: p === '+' ? local - offset : local + offset };
}

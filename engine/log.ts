/**
 * Structured logs: pino, one JSON object per line on stderr, with a level,
 * a time, the message and (where the caller gives one) the SMSC or tenant.
 * Never a secret (API keys and passwords are not passed to the logger; pino's
 * redaction removes `password`, `apiKey` and `authorization` should any reach
 * it) and never a message's text. LOG_LEVEL (debug, info, warn, error) sets
 * the threshold; default info.
 */
import { pino, type Logger } from 'pino';

export type LogFn = (level: 'info' | 'warn' | 'error', msg: string) => void;

let root: Logger | undefined;

export function logger(): Logger {
  root ??= pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      base: { svc: 'switchyard' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'apiKey', 'authorization', '*.password', '*.apiKey', '*.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
  return root;
}

/** The engine's log function: "[smsc] text" messages carry the SMSC as a field. */
export const log: LogFn = (level, msg) => {
  const m = /^\[([a-z0-9_-]+)\] (.*)$/s.exec(msg);
  if (m === null) logger()[level](msg);
  else logger()[level]({ smsc: m[1] }, m[2]);
};

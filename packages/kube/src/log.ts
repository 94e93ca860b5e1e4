import { pino, type Logger } from 'pino';

/** Paths pino blanks out wherever they appear in a log record. */
export const redactPaths = [
  'password',
  'token',
  'authorization',
  'data',
  'stringData',
  '*.password',
  '*.token',
  '*.authorization',
  '*.Authorization',
  '*.data',
  '*.stringData',
  'headers.authorization',
];

/** The one root logger of a process: JSON to stdout, secrets redacted. */
export function rootLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' } });
}

export type { Logger };

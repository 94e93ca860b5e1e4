import { ApiException } from '@kubernetes/client-node';

/** An error the runner must not retry: the object needs a user's change first. */
export class TerminalError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'TerminalError';
  }
}

/** The HTTP status of a failed client-node call or watch, if it has one. */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === 'object' && err !== null) {
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isAlreadyExists = (err: unknown): boolean => statusCode(err) === 409;

/** A short, secret-free description of a failed API call: status code and the apiserver's message. */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    let message = '';
    try {
      const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (typeof body === 'object' && body !== null && 'message' in body) message = String(body.message);
    } catch {
      // the body was not JSON; the code alone is still useful
    }
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

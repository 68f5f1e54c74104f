/**
 * The logging interface the library modules depend on. The operator binds it to winston; tests
 * bind it to a recorder. Fields use stable lowerCamelCase keys (`namespace`, `name`, `kind`,
 * `pod`, `resourceVersion`, `err`); values are names and versions, never object content.
 */
export type LogFields = Record<string, unknown>;

/** A structured logger. `trace` is for per-event detail and is normally off. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  trace(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  trace: () => undefined,
  child: () => silentLogger,
};

/** Turns an error into a loggable string: its class name and message, never a payload. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    return `${err.name}: ${err.message}`;
  }
  return String(err);
}

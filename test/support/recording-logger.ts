import { inspect } from 'node:util';

import type { LogFields, Logger } from '../../src/util/logger.ts';

/** A log level, most severe first. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug', 'trace'];

/** Renders values without truncating anything, so text searches see every character. */
const FULL = { depth: null, maxArrayLength: null, maxStringLength: null, breakLength: Infinity };

/** One recorded line: its level, message, and the fields including those of parent loggers. */
export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/**
 * A logger that keeps every line at or above `level` (default `trace`: everything) for
 * assertions. Children share the parent's record list and add their fields to each line.
 */
export class RecordingLogger implements Logger {
  readonly records: LogRecord[];
  readonly #level: LogLevel;
  readonly #fields: LogFields;

  constructor(level: LogLevel = 'trace', records: LogRecord[] = [], fields: LogFields = {}) {
    this.#level = level;
    this.records = records;
    this.#fields = fields;
  }

  error(message: string, fields?: LogFields): void {
    this.#record('error', message, fields);
  }

  warn(message: string, fields?: LogFields): void {
    this.#record('warn', message, fields);
  }

  info(message: string, fields?: LogFields): void {
    this.#record('info', message, fields);
  }

  debug(message: string, fields?: LogFields): void {
    this.#record('debug', message, fields);
  }

  trace(message: string, fields?: LogFields): void {
    this.#record('trace', message, fields);
  }

  child(fields: LogFields): Logger {
    return new RecordingLogger(this.#level, this.records, { ...this.#fields, ...fields });
  }

  /** The records with `message`, optionally only those at `level`. */
  find(message: string, level?: LogLevel): LogRecord[] {
    return this.records.filter((r) => r.message === message && (level ?? r.level) === r.level);
  }

  /** Every record rendered in full (nested values and all), one per line, for text searches. */
  text(): string {
    return this.records.map((r) => `${r.level} ${r.message} ${inspect(r.fields, FULL)}`).join('\n');
  }

  #record(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (LEVELS.indexOf(level) > LEVELS.indexOf(this.#level)) return;
    this.records.push({ level, message, fields: { ...this.#fields, ...fields } });
  }
}

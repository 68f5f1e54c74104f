import winston from 'winston';
import type { LogFields, Logger } from '../util/logger.ts';
import type { LogLevel } from './config.ts';

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

/**
 * A Logger writing JSON lines to standard error with winston: `time`, `level`, `msg`, then the
 * fields with their stable keys. Callers pass names and versions only, never object content.
 */
export function createLogger(
  level: LogLevel,
  stream: NodeJS.WritableStream = process.stderr,
): {
  logger: Logger;
  setLevel(level: LogLevel): void;
  close(): Promise<void>;
} {
  const winstonLogger = winston.createLogger({
    levels: LEVELS,
    level,
    format: winston.format.combine(
      winston.format.timestamp({ alias: 'time' }),
      winston.format((info) => {
        delete info.timestamp;
        return info;
      })(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream })],
  });

  return {
    logger: wrap(winstonLogger, {}),
    setLevel(next) {
      winstonLogger.level = next;
    },
    close: () =>
      new Promise((resolve) => {
        winstonLogger.on('finish', () => resolve());
        winstonLogger.end();
      }),
  };
}

function wrap(target: winston.Logger, base: LogFields): Logger {
  const write =
    (level: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (!target.isLevelEnabled(level)) return;
      target.log({ level, message: msg, ...base, ...fields });
    };
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    trace: write('trace'),
    child: (fields) => wrap(target, { ...base, ...fields }),
  };
}

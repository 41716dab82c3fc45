/**
 * Structured logs of the signaling server: one record per event, written as one JSON line by the default logger.
 */

/** Severity of a log record. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One structured log record: a level, an event name, and flat serialisable fields. */
export interface LogRecord {
  readonly level: LogLevel;
  readonly event: string;
  readonly [field: string]: unknown;
}

/** Receives log records. Must not throw (a throwing logger is caught and ignored). */
export type Logger = (record: LogRecord) => void;

const rank: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@link jsonLinesLogger}. */
export interface JsonLinesLoggerOptions {
  /** Lowest level written (default `'info'`). */
  level?: LogLevel;
  /** Where lines go (default `process.stderr`). */
  write?: (line: string) => void;
}

/** A logger writing each record as one JSON line (`{"time":..., "level":..., "event":..., ...}`). */
export function jsonLinesLogger(options: JsonLinesLoggerOptions = {}): Logger {
  const min = rank[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  return (record) => {
    if (rank[record.level] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), ...record });
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level: record.level, event: record.event, unserialisable: true });
    }
    write(line + '\n');
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = () => {};

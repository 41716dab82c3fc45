#!/usr/bin/env node
/**
 * `meshrtc-signaling`: runs the signaling server until SIGINT/SIGTERM.
 *
 *   meshrtc-signaling [--port 8787] [--host 127.0.0.1] [--stun-port 3478] [--ping-interval 5000]
 *                     [--max-message-bytes 65536] [--log-level info|debug|warn|error|silent] [--help]
 *
 * Prints the WebSocket URL (and the STUN port) on stdout; logs go to stderr as JSON lines.
 */
import { parseArgs } from 'node:util';
import { jsonLinesLogger, type LogLevel } from './logger.js';
import { createSignalingServer } from './server.js';

const USAGE = `Usage: meshrtc-signaling [options]

Options:
  --port <n>               TCP port for WebSocket and GET /health (default 8787; 0 picks a free port)
  --host <addr>            interface to bind (default 127.0.0.1)
  --stun-port <n>          also answer STUN Binding requests on this UDP port (0 picks one; default off)
  --ping-interval <ms>     WebSocket ping period; 2 missed pongs drop a peer (default 5000)
  --max-message-bytes <n>  largest client frame (default 65536)
  --log-level <level>      debug | info | warn | error | silent (default info); logs are JSON lines on stderr
  -h, --help               show this help
`;

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'stun-port': { type: 'string' },
        'ping-interval': { type: 'string' },
        'max-message-bytes': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  let server;
  try {
    const level = values['log-level'] ?? 'info';
    if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) throw new Error(`--log-level: unknown level ${JSON.stringify(level)}`);
    const stunPort = values['stun-port'] === undefined ? undefined : integer('stun-port', values['stun-port'], 0, 0, 65535);
    server = await createSignalingServer({
      port: integer('port', values.port, 8787, 0, 65535),
      host: values.host ?? '127.0.0.1',
      pingIntervalMs: integer('ping-interval', values['ping-interval'], 5000, 10, 3_600_000),
      maxMessageBytes: integer('max-message-bytes', values['max-message-bytes'], 65536, 1024, 64 * 1024 * 1024),
      logger: level === 'silent' ? false : jsonLinesLogger({ level: level as LogLevel }),
      stun: stunPort === undefined ? false : { port: stunPort },
    });
  } catch (err) {
    process.stderr.write(`meshrtc-signaling: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`meshrtc signaling server listening on ${server.url}\n`);
  process.stdout.write(`health: http://${server.url.slice('ws://'.length)}/health\n`);
  if (server.stunPort !== undefined) process.stdout.write(`stun: stun:${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.stunPort}\n`);

  const running = server;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`meshrtc-signaling: ${signal} again, exiting now\n`);
        resolve(1);
        return;
      }
      stopping = true;
      process.stdout.write(`${signal}: closing\n`);
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`meshrtc-signaling: close failed: ${String(err)}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

process.exitCode = await main(process.argv.slice(2));
// Timers are unref'ed and sockets are closed, so the process ends by itself; a second signal ends it regardless.
if (process.exitCode === 1) process.exit(1);

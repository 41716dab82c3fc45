#!/usr/bin/env node
/**
 * `meshrtc-signaling`: runs the signaling server until SIGINT/SIGTERM, or mints a room token.
 *
 *   meshrtc-signaling [--port 8787] [--host 127.0.0.1] [--stun-port 3478] [--ping-interval 5000]
 *                     [--max-message-bytes 65536] [--max-peers-per-room 256] [--rate-limit 500:2000]
 *                     [--auth-secret-env VAR | --auth-public-key FILE] [--auth-issuer I] [--auth-audience A]
 *                     [--allowed-origins https://a.example,https://b.example] [--require-origin]
 *                     [--log-level info|debug|warn|error|silent] [--help]
 *   meshrtc-signaling token --room R --peer P [--caps a,b] [--ttl 1h] [--secret-env VAR | --private-key FILE]
 *                     [--issuer I] [--audience A]
 *
 * Prints the WebSocket URL (and the STUN port) on stdout; logs go to stderr as JSON lines. `token` prints the
 * token alone on stdout. Secrets come from environment variables (never from arguments, which other users of
 * the machine can read in the process list).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { mintRoomToken, parseTtl, type RoomAuthOptions } from './auth.js';
import { jsonLinesLogger, type LogLevel } from './logger.js';
import { createSignalingServer } from './server.js';

/** The environment variable holding the shared secret unless `--secret-env` / `--auth-secret-env` names another. */
const DEFAULT_SECRET_ENV = 'MESHRTC_SIGNALING_SECRET';

const USAGE = `Usage: meshrtc-signaling [options]
       meshrtc-signaling token --room <room> --peer <id> [token options]

Server options:
  --port <n>                 TCP port for WebSocket and GET /health (default 8787; 0 picks a free port)
  --host <addr>              interface to bind (default 127.0.0.1)
  --stun-port <n>            also answer STUN Binding requests on this UDP port (0 picks one; default off)
  --ping-interval <ms>       WebSocket ping period; 2 missed pongs drop a peer (default 5000)
  --max-message-bytes <n>    largest client frame (default 65536)
  --max-peers-per-room <n>   members per room; further joins are refused (default 256)
  --rate-limit <n[:burst]>   messages per second per connection, and the burst (default 500:2000; 0 turns it off)
  --auth-secret-env <VAR>    require room tokens signed (HS256) with the secret in environment variable VAR
  --auth-public-key <file>   require room tokens signed with the private key of this public key (PEM)
  --auth-issuer <iss>        tokens must carry this issuer
  --auth-audience <aud>      tokens must carry this audience
  --allowed-origins <list>   comma-separated browser origins allowed to connect (default: any)
  --require-origin           also refuse clients that send no Origin header
  --log-level <level>        debug | info | warn | error | silent (default info); logs are JSON lines on stderr
  -h, --help                 show this help

Token options (meshrtc-signaling token):
  --room <room>              the room the token opens (required)
  --peer <id>                the peer id it is for (required)
  --caps <list>              comma-separated capabilities the peer may announce (default: any)
  --ttl <time>               lifetime: 90s, 30m, 1h, 7d or seconds (default 1h); "none" for no expiry
  --secret-env <VAR>         sign with HS256 and the secret in VAR (default ${DEFAULT_SECRET_ENV})
  --private-key <file>       sign with this private key (PEM, PKCS#8) instead
  --issuer <iss>, --audience <aud>
`;

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function secretFrom(variable: string): string {
  const value = process.env[variable];
  if (value === undefined || value === '') throw new Error(`environment variable ${variable} (the shared secret) is not set`);
  return value;
}

function list(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Parses `argv` strictly against `options` plus `--help`: the flags, or the exit code after printing the usage
 * (2 with the parse error on stderr, 0 for `--help` on stdout).
 */
/** The values `parseArgs` gives for `options` (none of them `multiple`). */
type Flags<O> = { [K in keyof O]?: O[K] extends { readonly type: 'boolean' } ? boolean : string };

function flags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O): Flags<O> | number {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  return values as Flags<O>;
}

async function token(argv: string[]): Promise<number> {
  const values = flags(argv, {
    room: { type: 'string' },
    peer: { type: 'string' },
    caps: { type: 'string' },
    ttl: { type: 'string' },
    'secret-env': { type: 'string' },
    'private-key': { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
  } as const);
  if (typeof values === 'number') return values;
  if (values.room === undefined || values.peer === undefined) {
    process.stderr.write(`meshrtc-signaling token: --room and --peer are required\n\n${USAGE}`);
    return 2;
  }
  try {
    if (values['private-key'] !== undefined && values['secret-env'] !== undefined) throw new Error('give --secret-env or --private-key, not both');
    const ttl = values.ttl === undefined ? '1h' : values.ttl === 'none' ? null : values.ttl;
    if (ttl !== null) parseTtl(ttl);
    const caps = list(values.caps);
    const jwt = await mintRoomToken({
      room: values.room,
      peer: values.peer,
      ttl,
      ...(caps === undefined ? {} : { capabilities: caps }),
      ...(values['private-key'] === undefined
        ? { secret: secretFrom(values['secret-env'] ?? DEFAULT_SECRET_ENV) }
        : { privateKey: readFileSync(values['private-key'], 'utf8') }),
      ...(values.issuer === undefined ? {} : { issuer: values.issuer }),
      ...(values.audience === undefined ? {} : { audience: values.audience }),
    });
    process.stdout.write(`${jwt}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`meshrtc-signaling token: ${(err as Error).message}\n`);
    return 1;
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'token') return token(argv.slice(1));
  const values = flags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'stun-port': { type: 'string' },
    'ping-interval': { type: 'string' },
    'max-message-bytes': { type: 'string' },
    'max-peers-per-room': { type: 'string' },
    'rate-limit': { type: 'string' },
    'auth-secret-env': { type: 'string' },
    'auth-public-key': { type: 'string' },
    'auth-issuer': { type: 'string' },
    'auth-audience': { type: 'string' },
    'allowed-origins': { type: 'string' },
    'require-origin': { type: 'boolean' },
    'log-level': { type: 'string' },
  } as const);
  if (typeof values === 'number') return values;
  let server;
  try {
    const level = values['log-level'] ?? 'info';
    if (!['debug', 'info', 'warn', 'error', 'silent'].includes(level)) throw new Error(`--log-level: unknown level ${JSON.stringify(level)}`);
    const stunPort = values['stun-port'] === undefined ? undefined : integer('stun-port', values['stun-port'], 0, 0, 65535);
    let auth: RoomAuthOptions | undefined;
    if (values['auth-secret-env'] !== undefined && values['auth-public-key'] !== undefined) {
      throw new Error('give --auth-secret-env or --auth-public-key, not both');
    }
    if (values['auth-secret-env'] !== undefined) auth = { secret: secretFrom(values['auth-secret-env']) };
    if (values['auth-public-key'] !== undefined) auth = { publicKey: readFileSync(values['auth-public-key'], 'utf8') };
    if (auth === undefined && (values['auth-issuer'] !== undefined || values['auth-audience'] !== undefined)) {
      throw new Error('--auth-issuer and --auth-audience need --auth-secret-env or --auth-public-key');
    }
    if (auth !== undefined) {
      if (values['auth-issuer'] !== undefined) auth.issuer = values['auth-issuer'];
      if (values['auth-audience'] !== undefined) auth.audience = values['auth-audience'];
    }
    let rateLimit: { perSecond: number; burst: number } | false | undefined;
    const rate = values['rate-limit'];
    if (rate !== undefined) {
      const m = /^(\d+)(?::(\d+))?$/.exec(rate);
      if (m === null) throw new Error(`--rate-limit must look like 100 or 100:500, got ${JSON.stringify(rate)}`);
      const perSecond = Number(m[1]);
      rateLimit = perSecond === 0 ? false : { perSecond, burst: m[2] === undefined ? perSecond * 5 : Number(m[2]) };
    }
    const origins = list(values['allowed-origins']);
    if (values['require-origin'] === true && origins === undefined) throw new Error('--require-origin needs --allowed-origins');
    server = await createSignalingServer({
      port: integer('port', values.port, 8787, 0, 65535),
      host: values.host ?? '127.0.0.1',
      pingIntervalMs: integer('ping-interval', values['ping-interval'], 5000, 10, 3_600_000),
      maxMessageBytes: integer('max-message-bytes', values['max-message-bytes'], 65536, 1024, 64 * 1024 * 1024),
      maxPeersPerRoom: integer('max-peers-per-room', values['max-peers-per-room'], 256, 1, 1_000_000),
      logger: level === 'silent' ? false : jsonLinesLogger({ level: level as LogLevel }),
      stun: stunPort === undefined ? false : { port: stunPort },
      ...(auth === undefined ? {} : { auth }),
      ...(rateLimit === undefined ? {} : { rateLimit }),
      ...(origins === undefined ? {} : { allowedOrigins: origins, requireOrigin: values['require-origin'] === true }),
    });
  } catch (err) {
    process.stderr.write(`meshrtc-signaling: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`meshrtc signaling server listening on ${server.url}${server.authenticated ? ' (room tokens required)' : ''}\n`);
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

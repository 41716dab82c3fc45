/**
 * `npm start`: the Pixel Mesh demo (signaling server + one Node edge peer + the Vite dev server), in one process,
 * until Ctrl-C.
 *
 *   npm start                                  # http://127.0.0.1:5173
 *   PORT=8080 SIGNALING_PORT=9000 npm start
 *   npm start -- --port 8080 --fresh
 */
import { parseArgs } from 'node:util';
import { PortInUseError, startDemo, type RunningDemo } from './launcher.js';

const USAGE = `Usage: npm start -- [options]

Starts the meshrtc multiplayer demo: a signaling server, one Node edge peer and the web page.

Options (environment variable in brackets):
  --port <n>            port of the web page [PORT] (default 5173)
  --signaling-port <n>  port of the signaling server [SIGNALING_PORT] (default 8787)
  --host <addr>         interface to bind [HOST] (default 127.0.0.1)
  --room <name>         room name [ROOM] (default pixel-mesh)
  --data-dir <dir>      the edge peer's state [DATA_DIR] (default demo/.data/edge)
  --fresh               start with an empty world (deletes the edge peer's data directory)
  --loopback-only       only 127.0.0.1 ICE candidates (tests; pages then need a fake camera)
  -h, --help            show this help
`;

function port(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`${name} must be a port number (0-65535), got ${JSON.stringify(value)}`);
  return n;
}

class UsageError extends Error {}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      strict: true,
      options: {
        port: { type: 'string' },
        'signaling-port': { type: 'string' },
        host: { type: 'string' },
        room: { type: 'string' },
        'data-dir': { type: 'string' },
        fresh: { type: 'boolean', default: false },
        'loopback-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`meshrtc demo: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const env = process.env;
  let demo: RunningDemo;
  try {
    const dataDir = values['data-dir'] ?? env['DATA_DIR'];
    demo = await startDemo({
      port: port('--port / PORT', values.port ?? env['PORT'], 5173),
      signalingPort: port('--signaling-port / SIGNALING_PORT', values['signaling-port'] ?? env['SIGNALING_PORT'], 8787),
      host: values.host ?? env['HOST'] ?? '127.0.0.1',
      room: values.room ?? env['ROOM'] ?? 'pixel-mesh',
      fresh: values.fresh,
      loopbackOnly: values['loopback-only'] || env['LOOPBACK_ONLY'] === '1',
      ...(dataDir === undefined || dataDir === '' ? {} : { dataDir }),
    });
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`meshrtc demo: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof PortInUseError) {
      process.stderr.write(`meshrtc demo: ${error.message}\n`);
      return 3;
    }
    process.stderr.write(`meshrtc demo: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }

  process.stdout.write(
    [
      '',
      '  meshrtc: Pixel Mesh demo',
      '',
      `  play       ${demo.url}        (open it in two or more tabs)`,
      `  dashboard  ${demo.dashboardUrl}`,
      `  signaling  ${demo.signalingUrl}  room ${demo.room}`,
      `  edge peer  ${demo.edge?.peerId ?? '-'}  (world, chat)`,
      '',
      '  Ctrl-C to stop',
      '',
    ].join('\n'),
  );

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write('meshrtc demo: forced exit\n');
        process.exit(130);
      }
      stopping = true;
      process.stdout.write(`\n  ${signal}: stopping...\n`);
      // A hung close must not keep the terminal: give up after 5 s.
      const force = setTimeout(() => {
        process.stderr.write('meshrtc demo: shutdown timed out\n');
        resolve(1);
      }, 5000);
      force.unref();
      void demo.close().then(() => {
        clearTimeout(force);
        process.stdout.write('  stopped\n');
        resolve(0);
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`meshrtc demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

/**
 * An edge server with one plain route and one clustered route, on Hono and node:http.
 *
 *   MESH_SIGNALING_URL=ws://127.0.0.1:8787 MESH_ROOM=demo MESH_CAPABILITIES=http PORT=8080 \
 *     npx tsx examples/edge-http/server.ts
 *
 * - `GET /health` is plain: it runs here.
 * - `/users/:id/...` is clustered: the request runs on the peer that owns `:id` among the peers serving `http`
 *   (this server, other edge servers, or browser tabs that registered the same API), and the response is
 *   streamed back. Responses carry `X-Mesh-Request-Key` and `X-Mesh-Peer`; a retry with the same
 *   `X-Mesh-Request-Key` is answered from the executor's table of responses.
 *
 * Configuration: the `MESH_*` variables of `startFromEnv` (see `meshrtc-edge --help`), plus `PORT` (default 8080),
 * `HOST` (default 127.0.0.1) and `LOOPBACK_ONLY=1` (tests: 127.0.0.1 ICE candidates only). Prints one JSON line
 * `{"event":"listening","url":...,"peerId":...}` once it serves; SIGINT/SIGTERM close it gracefully.
 */
import { createServer } from 'node:http';
import { Hono } from 'hono';
import { clusteredHandler, startFromEnv, toNodeListener } from 'meshrtc';
import { API, handleApi, userOf } from './app.js';

function fail(message: string): never {
  process.stderr.write(`edge-http: ${message}\n`);
  process.exit(2);
}

const port = Number(process.env['PORT'] ?? '8080');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT is malformed: ${JSON.stringify(process.env['PORT'])} is not a port number`);
const host = process.env['HOST'] ?? '127.0.0.1';

let mesh;
try {
  mesh = await startFromEnv({ mesh: { loopbackOnly: process.env['LOOPBACK_ONLY'] === '1' } });
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}

// The clustered route: registered on this peer too, so it serves its share of users.
const api = clusteredHandler(handleApi, { mesh, ...API, key: userOf });

const app = new Hono();
app.get('/health', (c) => c.json({ ok: true, peerId: mesh.peerId, view: mesh.view, peers: mesh.table.peers.length }));
app.all('/users/*', (c) => api(c.req.raw));

const server = createServer(toNodeListener(app.fetch));
server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://${host}:${actual}`, peerId: mesh.peerId })}\n`);
});

let closing = false;
const stop = (): void => {
  if (closing) return;
  closing = true;
  server.close();
  server.closeAllConnections();
  void mesh.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

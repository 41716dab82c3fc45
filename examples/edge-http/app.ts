/**
 * The example's API, a plain fetch-style handler: no Node, no framework, so it runs wherever the mesh routes a
 * request, on an edge peer or in a browser tab. Every route starts with `/users/:id`, and `:id` is the routing
 * key: all requests of one user run on the peer that owns that user's shard.
 *
 *   GET  /users/:id                 who served it (peer id, runtime) and how many requests this peer ran
 *   POST /users/:id/notes           echoes the note (the request body) with its length
 *   GET  /users/:id/stream?parts=N  N lines, streamed one by one
 */

/** How the API is registered on every peer (the same name and capability everywhere). */
export const API = { name: 'api', capability: 'http' } as const;

/** The routing key: the user id of `/users/:id/...`. */
export function userOf(request: Request): string {
  const user = new URL(request.url).pathname.split('/')[2] ?? '';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(user)) throw new TypeError('the path must start with /users/:id');
  return user;
}

let handled = 0;

/** The handler. `x-mesh-peer` on the request names the peer running it (set by clusteredHandler). */
export async function handleApi(request: Request): Promise<Response> {
  handled++;
  const url = new URL(request.url);
  const [, , user, action] = url.pathname.split('/');
  const servedBy = request.headers.get('x-mesh-peer');
  const runtime = typeof (globalThis as { document?: unknown }).document === 'undefined' ? 'node' : 'browser';
  if (request.method === 'GET' && action === undefined) {
    return Response.json({ user, servedBy, runtime, handled });
  }
  if (request.method === 'POST' && action === 'notes') {
    const note = await request.text();
    return Response.json({ user, servedBy, runtime, note, length: note.length }, { status: 201 });
  }
  if (request.method === 'GET' && action === 'stream') {
    const parts = Math.min(1000, Math.max(1, Number(url.searchParams.get('parts') ?? '3') || 3));
    let sent = 0;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === parts) {
          controller.close();
          return;
        }
        await new Promise((r) => setTimeout(r, 5));
        controller.enqueue(encoder.encode(`part ${++sent} of ${parts} for ${user} from ${servedBy}\n`));
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
  return Response.json({ error: 'not found' }, { status: 404 });
}

/**
 * A fetch-style handler on `node:http`: `createServer(toNodeListener(handler)).listen(8080, '127.0.0.1')`.
 * The request body is passed as a stream (read it with limits: {@link clusteredHandler} does); the response body
 * is written with backpressure (`drain`), and a client that goes away aborts `request.signal` and stops the body.
 * Node only.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { FetchHandler } from './clustered-handler.js';

/** Options of {@link toNodeListener}. */
export interface NodeListenerOptions {
  /** Host used for the request URL when the request has no `Host` header (default `127.0.0.1`). */
  readonly defaultHost?: string;
  /** Called with errors the handler threw (the client gets a 500). Default: written to stderr. */
  readonly onError?: (error: unknown) => void;
}

/** Adapts a fetch-style handler (`(Request) => Response`, e.g. Hono's `app.fetch`) to a `node:http` listener. */
export function toNodeListener(handler: FetchHandler, options: NodeListenerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const onError = options.onError ?? ((error: unknown) => process.stderr.write(`meshrtc http: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`));
  return (req, res) => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    void serve(handler, req, res, controller, options.defaultHost ?? '127.0.0.1').catch((error: unknown) => {
      onError(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end('internal error\n');
      } else res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  };
}

async function serve(handler: FetchHandler, req: IncomingMessage, res: ServerResponse, controller: AbortController, defaultHost: string): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? defaultHost}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: controller.signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  const response = await handler(new Request(url, init));
  res.statusCode = response.status;
  if (response.statusText !== '') res.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (response.body === null || method === 'HEAD') {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (controller.signal.aborted) {
        await reader.cancel('the client went away');
        return;
      }
      const r = await reader.read();
      if (r.done) break;
      if (res.destroyed) continue; // the next turn cancels the body (the client is gone)
      if (!res.write(r.value)) {
        try {
          await once(res, 'drain', { signal: controller.signal });
        } catch {
          // aborted: the client went away while we waited
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
  res.end();
}

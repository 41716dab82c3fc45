/** toNodeListener: a fetch-style handler on a real node:http server on 127.0.0.1, with Node's fetch as client. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { toNodeListener } from './node.js';
import type { FetchHandler } from './clustered-handler.js';

let server: Server | undefined;

async function serve(handler: FetchHandler, onError?: (e: unknown) => void): Promise<string> {
  server = createServer(toNodeListener(handler, onError === undefined ? {} : { onError }));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server === undefined ? r() : server.close(() => r())));
  server = undefined;
});

describe('toNodeListener', () => {
  it('passes method, URL, headers and a streamed body; writes status, headers, cookies and body', async () => {
    const url = await serve(async (req) => {
      const body = await req.text();
      const headers = new Headers({ 'x-echo': req.headers.get('x-in') ?? '', 'content-type': 'application/json' });
      headers.append('set-cookie', 'a=1');
      headers.append('set-cookie', 'b=2');
      return new Response(JSON.stringify({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, body }), { status: 207, headers });
    });
    const res = await fetch(`${url}/x/y?z=1`, { method: 'PUT', headers: { 'x-in': 'hello' }, body: 'payload' });
    expect(res.status).toBe(207);
    expect(res.headers.get('x-echo')).toBe('hello');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await res.json()).toEqual({ method: 'PUT', path: '/x/y?z=1', body: 'payload' });
    const head = await fetch(`${url}/h`, { method: 'HEAD' });
    expect(head.status).toBe(207);
    expect(await head.text()).toBe('');
  });

  it('streams a large body with backpressure, and answers 500 when the handler throws', async () => {
    const size = 8 * 1024 * 1024;
    const errors: unknown[] = [];
    const url = await serve((req) => {
      if (new URL(req.url).pathname === '/boom') throw new Error('handler broke');
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= size) return c.close();
            c.enqueue(new Uint8Array(64 * 1024).fill(7));
            sent += 64 * 1024;
          },
        }),
      );
    }, (e) => errors.push(e));
    const res = await fetch(`${url}/big`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.byteLength).toBe(size);
    expect(bytes.every((b) => b === 7)).toBe(true);
    const boom = await fetch(`${url}/boom`);
    expect(boom.status).toBe(500);
    expect(String(errors[0])).toContain('handler broke');
  });

  it('aborts the request signal and stops the body when the client goes away', async () => {
    let aborted = false;
    let pulled = 0;
    const url = await serve(
      (req) =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(c) {
              pulled++;
              await new Promise((r) => setTimeout(r, 5));
              c.enqueue(new Uint8Array(1024));
            },
            cancel() {
              aborted = req.signal.aborted;
            },
          }),
        ),
    );
    const controller = new AbortController();
    const res = await fetch(`${url}/endless`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    for (let i = 0; i < 100 && !aborted; i++) await new Promise((r) => setTimeout(r, 20));
    expect(aborted).toBe(true);
    const at = pulled;
    await new Promise((r) => setTimeout(r, 100));
    expect(pulled - at).toBeLessThanOrEqual(1);
  });
});

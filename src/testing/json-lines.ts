/** Newline-delimited JSON over a text stream, for the process harnesses. */

/** Calls `onLine` with each parsed JSON line of `stream`; lines that are not JSON go to `onOther` (if given). */
export function onJsonLines(
  stream: NodeJS.ReadableStream,
  onLine: (value: unknown) => void,
  onOther?: (text: string) => void,
): void {
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        onOther?.(text);
        continue;
      }
      onLine(value);
    }
  });
}

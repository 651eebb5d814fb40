/**
 * NDJSON records as a stream: lines are parsed one by one as bytes arrive, so a stage starts on
 * the first record while the one before it in a pipe is still working, and memory holds one line
 * at a time, whatever the input's size. A broken line becomes an error item (with its line number)
 * and the stream goes on; a last line cut short is reported, never dropped.
 */
import { FacekitError } from './errors.js';
import { parseRecord, type FaceRecord } from './records.js';

export type RecordLine =
  | { ok: true; record: FaceRecord; where: string; line: number }
  | { ok: false; error: FacekitError; where: string; line: number };

/** Longest line accepted (a record with a 468-point mesh is about 30 kB). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export async function* recordLines(chunks: AsyncIterable<Uint8Array | string>, source: string, maxLineBytes = MAX_LINE_BYTES): AsyncGenerator<RecordLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  let skipping = false; // inside a line that is too long: drop bytes until its end
  const parse = (text: string, last: boolean): RecordLine | undefined => {
    lineNo++;
    if (text.trim() === '') return undefined;
    const where = `${source} line ${lineNo}`;
    try {
      return { ok: true, record: parseRecord(text, where), where, line: lineNo };
    } catch (err) {
      if (!(err instanceof FacekitError)) throw err;
      const cut = last && err.code === 'bad_record' && /not valid JSON/.test(err.message);
      const error = cut ? new FacekitError('bad_record', 'the input ends in the middle of this record (truncated last line)', where) : err;
      return { ok: false, error, where, line: lineNo };
    }
  };
  for await (const chunk of chunks) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      const head = buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
      if (skipping) {
        skipping = false;
        lineNo++;
        const where = `${source} line ${lineNo}`;
        yield { ok: false, error: new FacekitError('bad_record', `line is longer than ${maxLineBytes} bytes; not a facekit record`, where), where, line: lineNo };
        continue;
      }
      const text = pendingBytes ? Buffer.concat([...pending, head]).toString('utf8') : head.toString('utf8');
      pending = [];
      pendingBytes = 0;
      const item = parse(text, false);
      if (item) yield item;
    }
    if (skipping) continue;
    if (buf.length) {
      pending.push(Buffer.from(buf)); // copy: the chunk's memory may be reused
      pendingBytes += buf.length;
      if (pendingBytes > maxLineBytes) {
        pending = [];
        pendingBytes = 0;
        skipping = true;
      }
    }
  }
  if (skipping) {
    lineNo++;
    const where = `${source} line ${lineNo}`;
    yield { ok: false, error: new FacekitError('bad_record', `line is longer than ${maxLineBytes} bytes; not a facekit record`, where), where, line: lineNo };
  } else if (pendingBytes) {
    const item = parse(Buffer.concat(pending).toString('utf8'), true);
    if (item) yield item;
  }
}

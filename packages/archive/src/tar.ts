import type { Readable } from 'node:stream';

const BLOCK = 512;

export interface TarEntry {
  name: string;
  type: 'file' | 'directory';
  size: number;
  mode: number;
  mtime: Date;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** A ustar header block (names up to 100 bytes, which is all a checkpoint archive needs). */
export function header(entry: TarEntry): Buffer {
  const b = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(entry.name) > 100) throw new Error(`tar entry name too long: ${entry.name}`);
  b.write(entry.name, 0, 100, 'utf8');
  b.write(octal(entry.mode, 8), 100);
  b.write(octal(0, 8), 108);
  b.write(octal(0, 8), 116);
  b.write(octal(entry.type === 'file' ? entry.size : 0, 12), 124);
  b.write(octal(Math.floor(entry.mtime.getTime() / 1000), 12), 136);
  b.write('        ', 148);
  b.write(entry.type === 'file' ? '0' : '5', 156);
  b.write('ustar\0', 257);
  b.write('00', 263);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7) + ' ', 148);
  return b;
}

export const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
export const trailer = (): Buffer => Buffer.alloc(BLOCK * 2);

function parseHeader(b: Buffer): TarEntry | undefined {
  if (b.every((x) => x === 0)) return undefined;
  const str = (start: number, len: number) => b.toString('utf8', start, start + len).replace(/\0.*$/s, '');
  const num = (start: number, len: number) => parseInt(str(start, len).trim() || '0', 8);
  const prefix = str(345, 155);
  const name = (prefix ? `${prefix}/` : '') + str(0, 100);
  const flag = str(156, 1);
  return {
    name,
    type: flag === '5' ? 'directory' : 'file',
    size: num(124, 12),
    mode: num(100, 8),
    mtime: new Date(num(136, 12) * 1000),
  };
}

/**
 * Streams a tar, handing each regular file to onFile with its content when wanted(entry) holds; other content is
 * skipped without being kept, so memory stays flat however large the archive.
 */
export async function readTar(
  input: Readable,
  wanted: (e: TarEntry) => boolean,
  onFile: (e: TarEntry, content: Buffer) => void,
): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  let buf: Buffer = Buffer.alloc(0);
  let current: { entry: TarEntry; remaining: number; keep: Buffer[] | undefined; pad: number } | undefined;
  let done = false;
  for await (const chunk of input) {
    if (done) continue;
    buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
    for (;;) {
      if (current) {
        const take = Math.min(current.remaining, buf.length);
        if (current.keep && take > 0) current.keep.push(buf.subarray(0, take));
        current.remaining -= take;
        buf = buf.subarray(take);
        if (current.remaining > 0) break;
        if (buf.length < current.pad) break;
        buf = buf.subarray(current.pad);
        if (current.keep) onFile(current.entry, Buffer.concat(current.keep));
        current = undefined;
      }
      if (buf.length < BLOCK) break;
      const entry = parseHeader(buf.subarray(0, BLOCK));
      buf = buf.subarray(BLOCK);
      if (!entry) {
        done = true;
        break;
      }
      entries.push(entry);
      const size = entry.type === 'file' ? entry.size : 0;
      current = {
        entry,
        remaining: size,
        keep: entry.type === 'file' && wanted(entry) ? [] : undefined,
        pad: padding(size).length,
      };
    }
  }
  return entries;
}

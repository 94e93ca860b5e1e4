import { open } from 'node:fs/promises';
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
  const size = entry.type === 'file' ? entry.size : 0;
  // Sizes from 8 GiB up do not fit 11 octal digits: GNU's base-256 form, as Go's archive/tar also reads and writes.
  if (size >= 8 ** 11) {
    b[124] = 0x80;
    for (let i = 135, v = size; i > 124; i--, v = Math.floor(v / 256)) b[i] = v % 256;
  } else b.write(octal(size, 12), 124);
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
  let size = num(124, 12);
  if (b[124]! & 0x80) {
    size = 0;
    for (let i = 125; i < 136; i++) size = size * 256 + b[i]!;
  }
  return {
    name,
    type: flag === '5' ? 'directory' : 'file',
    size,
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

/** Content larger than this is never loaded by scanTarFile (spec.dump and config.dump are a few KiB). */
const MAX_WANTED = 16 << 20;

/**
 * Reads a tar file's headers, and the content of the entries wanted, seeking past everything else (a checkpoint's
 * memory pages come before its spec.dump, so streaming would read the whole archive). Stops at the end, or as soon
 * as enough() holds. Throws for a file that is not a tar.
 */
export async function scanTarFile(
  path: string,
  wanted: (e: TarEntry) => boolean,
  onFile: (e: TarEntry, content: Buffer) => void,
  enough: () => boolean = () => false,
): Promise<void> {
  const fh = await open(path, 'r');
  let pax: Partial<TarEntry> = {};
  try {
    const head = Buffer.alloc(BLOCK);
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(head, 0, BLOCK, pos);
      if (bytesRead < BLOCK) return;
      const parsed = parseHeader(head);
      if (!parsed) return;
      if (!Number.isSafeInteger(parsed.size) || parsed.size < 0)
        throw new Error(`${path}: not a tar archive`);
      const entry = { ...parsed, ...pax };
      pos += BLOCK;
      const flag = String.fromCharCode(head[156]!);
      if (flag === 'x' && parsed.size <= MAX_WANTED) {
        // A PAX header: its size and path records override the next entry's (Go writes them for sizes >= 8 GiB).
        const records = Buffer.alloc(parsed.size);
        await fh.read(records, 0, parsed.size, pos);
        pax = paxOverrides(records.toString('utf8'));
        pos += parsed.size + padding(parsed.size).length;
        continue;
      }
      pax = {};
      const size = entry.type === 'file' ? entry.size : 0;
      if (entry.type === 'file' && size <= MAX_WANTED && wanted(entry)) {
        const content = Buffer.alloc(size);
        await fh.read(content, 0, size, pos);
        onFile(entry, content);
        if (enough()) return;
      }
      pos += size + padding(size).length;
    }
  } finally {
    await fh.close();
  }
}

/** The records of a PAX extended header ("<len> key=value\n" ...) that matter here: size and path. */
function paxOverrides(text: string): Partial<TarEntry> {
  const out: Partial<TarEntry> = {};
  for (const m of text.matchAll(/^\d+ (size|path)=(.*)$/gm)) {
    if (m[1] === 'size' && /^\d+$/.test(m[2]!)) out.size = Number(m[2]);
    if (m[1] === 'path') out.name = m[2]!;
  }
  return out;
}

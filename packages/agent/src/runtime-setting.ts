import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CHECKPOINT_RESTORE_LABEL,
  CHECKPOINT_RESTORE_SETTINGS,
  isCheckpointRestoreSetting,
  type CheckpointRestoreSetting,
  type PublishedSetting,
} from '@stateful-migration/api';

export {
  CHECKPOINT_RESTORE_LABEL,
  CHECKPOINT_RESTORE_SETTINGS,
  type CheckpointRestoreSetting,
  type PublishedSetting,
};

/**
 * What the node's container runtime allows, read from CRI-O's own configuration files, so that the restore
 * controller can send a restored pod only where the runtime will restore it.
 *
 * CRI-O reads /etc/crio/crio.conf and then /etc/crio/crio.conf.d/*.conf in lexical order; a later file overrides the
 * keys it sets, and only those. Two keys matter:
 *
 * - `[crio.checkpoint_restore] container_level_enabled = "none" | "checkpoint_only" | "checkpoint_restore"`;
 * - the legacy `[crio.runtime] enable_criu_support = true | false` (true: checkpoint and restore; false: neither).
 *
 * **Which wins when both are set.** As CRI-O does, the files are merged key by key first, and only the merged
 * configuration is read; the two are different keys, so file order never sets one against the other. In the merged
 * configuration the newer key decides whenever any file sets it, and the legacy key is only its fallback, when no
 * file sets the newer one. A drop-in left over from an older CRI-O that sets only `enable_criu_support` therefore
 * never overrides an explicit `container_level_enabled`, in whichever file. With neither key set, CRI-O's default:
 * `checkpoint_only`.
 *
 * The reading is a minimal TOML reading, not a validator: table headers (`[a.b]`, `[[a.b]]`, quoted parts), keys
 * (bare, quoted, dotted), strings (basic, literal, multi-line), booleans, `#` comments; arrays, inline tables and
 * other values are skipped over whole (multi-line arrays included, as crio.conf has them) and never mistaken for
 * headers or keys. A line it cannot read is skipped. Only a value of one of the two keys that CRI-O would not accept
 * is an error ({@link CrioConfigError}), since the setting then cannot be told.
 */
export function crioCheckpointRestore(files: { name: string; text: string }[]): CheckpointRestoreSetting {
  let level: Found | undefined;
  let legacy: Found | undefined;
  for (const f of files) {
    const keys = readToml(f.text);
    const l = keys.get(LEVEL_KEY);
    if (l) level = { ...l, file: f.name };
    const c = keys.get(LEGACY_KEY);
    if (c) legacy = { ...c, file: f.name };
  }
  if (level) {
    if (level.value.kind === 'string' && isCheckpointRestoreSetting(level.value.value))
      return level.value.value;
    throw new CrioConfigError(
      `${level.file}:${level.line}: [crio.checkpoint_restore] container_level_enabled = ${level.value.text} is not ` +
        `one of ${CHECKPOINT_RESTORE_SETTINGS.map((s) => `"${s}"`).join(', ')}`,
    );
  }
  if (legacy) {
    if (legacy.value.kind === 'boolean') return legacy.value.value ? 'checkpoint_restore' : 'none';
    throw new CrioConfigError(
      `${legacy.file}:${legacy.line}: [crio.runtime] enable_criu_support = ${legacy.value.text} is not true or false`,
    );
  }
  return 'checkpoint_only';
}

/** A value of one of the two keys that CRI-O would not accept: the setting cannot be told. */
export class CrioConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CrioConfigError';
  }
}

/**
 * The merge patch of the Node's labels that makes its label say `desired`, or undefined when it already does (the
 * agent patches only on a change, so an unchanged setting costs one GET a minute and no write).
 */
export function labelPatch(
  current: string | undefined,
  desired: PublishedSetting,
): { metadata: { labels: Record<string, string> } } | undefined {
  return current === desired ? undefined : { metadata: { labels: { [CHECKPOINT_RESTORE_LABEL]: desired } } };
}

// ---- I/O ----

/** CRI-O's configuration, relative to the node's root. */
export const CRIO_CONF = '/etc/crio/crio.conf';
export const CRIO_CONF_D = '/etc/crio/crio.conf.d';

/**
 * Reads `<hostRoot>/etc/crio/crio.conf` and `<hostRoot>/etc/crio/crio.conf.d/*.conf` (in lexical order, as CRI-O
 * does) and returns the effective setting; undefined when none of those files exists (not a CRI-O node, or the
 * host's /etc/crio is not mounted), where the agent publishes `unknown`. Files are named by their path on the node,
 * as an administrator knows them. Throws {@link CrioConfigError} for a value CRI-O would refuse, and an fs error
 * for a file that exists but cannot be read.
 */
export async function readCrioCheckpointRestore(
  hostRoot: string,
): Promise<CheckpointRestoreSetting | undefined> {
  const files = await readCrioConfig(hostRoot);
  return files.length ? crioCheckpointRestore(files) : undefined;
}

/** CRI-O's configuration files under `hostRoot`, in the order CRI-O reads them, named by their path on the node. */
export async function readCrioConfig(hostRoot: string): Promise<{ name: string; text: string }[]> {
  const files: { name: string; text: string }[] = [];
  const main = await readIfFile(join(hostRoot, CRIO_CONF));
  if (main !== undefined) files.push({ name: CRIO_CONF, text: main });
  let dropIns: string[] = [];
  try {
    dropIns = (await readdir(join(hostRoot, CRIO_CONF_D))).filter((n) => n.endsWith('.conf')).sort();
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
  for (const n of dropIns) {
    const text = await readIfFile(join(hostRoot, CRIO_CONF_D, n));
    if (text !== undefined) files.push({ name: `${CRIO_CONF_D}/${n}`, text });
  }
  return files;
}

/** A file's text; undefined when it does not exist or is a directory. */
async function readIfFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
    throw err;
  }
}

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

// ---- a minimal TOML reading ----

type Value =
  | { kind: 'string'; value: string; text: string }
  | { kind: 'boolean'; value: boolean; text: string }
  /** Anything else (numbers, arrays, inline tables, dates, unterminated strings), with its source text. */
  | { kind: 'other'; text: string };

interface Entry {
  value: Value;
  /** 1-based, where the key is. */
  line: number;
}
type Found = Entry & { file: string };

/** Key paths joined by NUL, so that a quoted part containing a dot stays one part. */
const keyPath = (...parts: string[]): string => parts.join('\0');
const LEVEL_KEY = keyPath('crio', 'checkpoint_restore', 'container_level_enabled');
const LEGACY_KEY = keyPath('crio', 'runtime', 'enable_criu_support');

/** Every key of one file by its full path (table and key), with its value; a repeated key: the last. */
export function readToml(text: string): Map<string, Entry> {
  const s = new Scanner(text);
  const out = new Map<string, Entry>();
  let table: string[] = [];
  for (;;) {
    s.skipBlank();
    if (s.done()) return out;
    const line = s.line();
    if (s.peek() === '[') {
      const header = s.header();
      if (header) table = header;
    } else {
      const key = s.key();
      if (key && s.eat('=')) out.set(keyPath(...table, ...key), { value: s.value(), line });
    }
    s.skipLine();
  }
}

const BARE = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };

/** A cursor over one file's text; every method leaves it on the same line or after a value that spans lines. */
class Scanner {
  #i = 0;
  /** Where line() last counted to, so that counting lines is linear in the file. */
  #counted = { at: 0, line: 1 };
  constructor(readonly text: string) {}

  done(): boolean {
    return this.#i >= this.text.length;
  }
  peek(n = 1): string {
    return this.text.slice(this.#i, this.#i + n);
  }
  line(): number {
    for (; this.#counted.at < this.#i; this.#counted.at++)
      if (this.text[this.#counted.at] === '\n') this.#counted.line++;
    return this.#counted.line;
  }
  eat(token: string): boolean {
    this.#spaces();
    if (this.peek(token.length) !== token) return false;
    this.#i += token.length;
    return true;
  }

  /** Whitespace, newlines and comments between statements. */
  skipBlank(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\uFEFF') this.#i++;
      else if (c === '#') this.#toEol();
      else return;
    }
  }

  /** The rest of the line (a comment, or what this reading does not understand). */
  skipLine(): void {
    this.#toEol();
  }

  /** `[a."b".c]` or `[[a.b]]`: the table's path; undefined for a malformed header. */
  header(): string[] | undefined {
    const double = this.peek(2) === '[[';
    this.#i += double ? 2 : 1;
    const parts = this.key();
    return parts && this.eat(double ? ']]' : ']') ? parts : undefined;
  }

  /** A bare, quoted or dotted key; undefined when there is none. */
  key(): string[] | undefined {
    const parts: string[] = [];
    do {
      this.#spaces();
      const c = this.peek();
      let part: string | undefined;
      if (c === '"') part = this.#basic();
      else if (c === "'") part = this.#literal();
      else {
        const start = this.#i;
        while (BARE.test(this.peek()) && !this.done()) this.#i++;
        part = this.#i > start ? this.text.slice(start, this.#i) : undefined;
      }
      if (part === undefined) return undefined;
      parts.push(part);
    } while (this.eat('.'));
    return parts;
  }

  value(): Value {
    this.#spaces();
    const start = this.#i;
    const text = () => this.text.slice(start, this.#i).trim();
    const str = (v: string | undefined): Value =>
      v === undefined ? { kind: 'other', text: text() } : { kind: 'string', value: v, text: text() };
    if (this.peek(3) === '"""') return str(this.#basic(true));
    if (this.peek(3) === "'''") return str(this.#multiLiteral());
    if (this.peek() === '"') return str(this.#basic());
    if (this.peek() === "'") return str(this.#literal());
    if (this.peek() === '[' || this.peek() === '{') {
      this.#nested();
      return { kind: 'other', text: text() };
    }
    while (!this.done() && !'#\n'.includes(this.peek())) this.#i++;
    const bare = text();
    return bare === 'true' || bare === 'false'
      ? { kind: 'boolean', value: bare === 'true', text: bare }
      : { kind: 'other', text: bare };
  }

  #spaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.#i++;
  }

  #toEol(): void {
    while (!this.done() && this.peek() !== '\n') this.#i++;
  }

  /**
   * "..." on one line, or """...""" across lines (a newline right after the opening is dropped, a line-ending
   * backslash joins lines), with TOML's escapes; undefined when unterminated or badly escaped.
   */
  #basic(multi = false): string | undefined {
    const quote = multi ? '"""' : '"';
    this.#i += quote.length;
    if (multi) this.#dropNewline();
    let out: string | undefined = '';
    while (!this.done() && (multi || this.peek() !== '\n')) {
      if (this.peek(quote.length) === quote) {
        this.#i += quote.length;
        return out;
      }
      const c = this.peek();
      this.#i++;
      // A bad escape spoils the value but not the reading: the string still ends at its closing quote.
      const e = c === '\\' ? this.#escape(multi) : c;
      out = out === undefined || e === undefined ? undefined : out + e;
    }
    return undefined;
  }

  /** TOML drops a newline right after the opening quotes of a multi-line string. */
  #dropNewline(): void {
    if (this.peek() === '\n') this.#i++;
    else if (this.peek(2) === '\r\n') this.#i += 2;
  }

  /** After a backslash: the character it stands for; '' for a line-ending backslash in a multi-line string. */
  #escape(multi: boolean): string | undefined {
    const e = this.peek();
    if (multi && /^[ \t\r\n]$/.test(e)) {
      while (/^[ \t\r\n]$/.test(this.peek())) this.#i++;
      return '';
    }
    this.#i++;
    if (e !== 'u' && e !== 'U') return ESCAPES[e];
    const hex = this.peek(e === 'u' ? 4 : 8);
    if (!/^[0-9A-Fa-f]{4}([0-9A-Fa-f]{4})?$/.test(hex) || hex.length !== (e === 'u' ? 4 : 8))
      return undefined;
    this.#i += hex.length;
    const code = parseInt(hex, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
  }

  /** '...' on one line, as written; undefined when unterminated. */
  #literal(): string | undefined {
    const end = this.text.indexOf("'", this.#i + 1);
    const nl = this.text.indexOf('\n', this.#i + 1);
    if (end < 0 || (nl >= 0 && nl < end)) {
      this.#toEol();
      return undefined;
    }
    const v = this.text.slice(this.#i + 1, end);
    this.#i = end + 1;
    return v;
  }

  /** '''...''' across lines, as written (a newline right after the opening is dropped); undefined if unterminated. */
  #multiLiteral(): string | undefined {
    const end = this.text.indexOf("'''", this.#i + 3);
    if (end < 0) {
      this.#i = this.text.length;
      return undefined;
    }
    this.#i += 3;
    this.#dropNewline();
    const v = this.text.slice(this.#i, end);
    this.#i = end + 3;
    return v;
  }

  /** An array or inline table, across lines, with the strings and comments in it, to its matching bracket. */
  #nested(): void {
    let depth = 0;
    while (!this.done()) {
      const c = this.peek();
      if (c === '[' || c === '{') depth++;
      else if (c === ']' || c === '}') depth--;
      if (this.peek(3) === '"""') this.#basic(true);
      else if (this.peek(3) === "'''") this.#multiLiteral();
      else if (c === '"') this.#basic();
      else if (c === "'") this.#literal();
      else if (c === '#') this.#toEol();
      else this.#i++;
      if (depth === 0) return;
    }
  }
}

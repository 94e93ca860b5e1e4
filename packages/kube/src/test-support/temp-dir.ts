import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/**
 * A fresh directory under the system's temporary directory, removed (with everything in it) once the test, suite or
 * file that made it is done: node:test's `after` attaches to whatever is running when it is called, so a call inside
 * an `it` cleans up after that test, one in a describe body after the suite, one at a file's top level at its end.
 * Not from a beforeEach (its `after` would run as soon as the hook ends): make the directory there with mkdtempSync
 * and remove it in afterEach.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

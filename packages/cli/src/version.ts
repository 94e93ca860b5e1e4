import { readFileSync } from 'node:fs';

/**
 * The version of stateful-migration: packages/cli/package.json's, the one source. The image carries it
 * (deploy/Containerfile's VERSION, from the same file) and the chart too (Chart.yaml's appVersion, written by
 * `pnpm gen`); `stateful-migration --version` prints it. Read at run time, from the package this file ships in.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

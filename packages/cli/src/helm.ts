import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CHART_DIR, RELEASE } from './chart.js';

/** The helm that renders the chart; e2e/scripts/build-binaries.sh builds this version from Go modules. */
export const HELM_VERSION = 'v3.22.0';

/** The cached helm (as the federation's Go binaries), or the one $HELM names. */
export function helmBinary(): string {
  if (process.env.HELM) return process.env.HELM;
  const cache =
    process.env.STATEFUL_MIGRATION_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stateful-migration');
  const bin = join(cache, 'bin', `helm-${HELM_VERSION}`, 'helm');
  if (!existsSync(bin))
    throw new Error(`helm ${HELM_VERSION} not found at ${bin}: run bash e2e/scripts/build-binaries.sh helm`);
  return bin;
}

/** Runs helm with its output as a string; its stderr goes into the error. */
export function helm(args: string[], cwd: string): string {
  return execFileSync(helmBinary(), args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The Kubernetes version helm renders for (it otherwise assumes 1.20): the federation's, e2e/src/fed/paths.ts. */
export const KUBE_VERSION = 'v1.35.4';

/** `helm template` of the repository's chart in one install mode, with the chart's defaults otherwise. */
export function renderChart(repo: string, installMode: string, extra: string[] = []): string {
  const set = installMode === 'karmada' ? [] : ['--set', `installMode=${installMode}`];
  return helm(
    [
      'template',
      RELEASE,
      CHART_DIR,
      '--namespace',
      'karmada-system',
      '--kube-version',
      KUBE_VERSION,
      ...set,
      ...extra,
    ],
    repo,
  );
}

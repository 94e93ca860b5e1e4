import { execFile } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { binary, repoRoot } from '../fed/paths.js';

/** Where kubectl finds the plugin kubectl-stateful_migration: on PATH, as a user installs it. */
export const pluginDir = join(repoRoot, 'packages', 'cli', 'bin');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the federation's own kubectl binary (no --kubeconfig added: the arguments and KUBECONFIG say where) with the
 * plugin directory first on PATH, as a user's shell would; resolves with the exit code and both outputs.
 */
export function kubectlWithPlugin(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      binary('kubectl'),
      args,
      {
        env: {
          ...process.env,
          PATH: `${pluginDir}${delimiter}${process.env.PATH ?? ''}`,
          KUBECONFIG: '',
          ...env,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

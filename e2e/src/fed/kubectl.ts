import { execFile } from 'node:child_process';
import { binary, kubeconfigPath } from './paths.js';

/** Runs the federation's own kubectl against one cluster; rejects with kubectl's stderr. */
export function kubectl(cluster: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary('kubectl'),
      [`--kubeconfig=${kubeconfigPath(cluster)}`, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`kubectl ${args.slice(0, 2).join(' ')} on ${cluster}: ${stderr.trim() || err.message}`),
          );
        else resolve(stdout);
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Server-side apply of a YAML or JSON document stream. */
export function apply(cluster: string, manifest: string): Promise<string> {
  return kubectl(
    cluster,
    ['apply', '--server-side', '--force-conflicts', '--field-manager=fed', '-f', '-'],
    manifest,
  );
}

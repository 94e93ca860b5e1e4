import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';

// Where the commands for people (status, restore) find their cluster, as kubectl does, so that the same flags and
// environment work whether they run as `stateful-migration ...` or as the kubectl plugin `kubectl stateful-migration`
// (kubectl hands a plugin its arguments and environment as they are, and nothing else).

/** kubectl's connection flags. */
export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

interface Loaded {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string;
}

/**
 * kubectl's merge of the files of $KUBECONFIG: the first file that sets current-context wins, and the first
 * cluster, user or context of a name wins (later files cannot override it); files that do not exist are skipped.
 * client-node's own loadFromDefault lets a later file change current-context and refuses a repeated name.
 */
export function mergeKubeconfigs(files: Loaded[]): Loaded {
  const firstByName = <T extends { name: string }>(lists: T[][]): T[] => {
    const seen = new Map<string, T>();
    for (const x of lists.flat()) if (!seen.has(x.name)) seen.set(x.name, x);
    return [...seen.values()];
  };
  return {
    clusters: firstByName(files.map((f) => f.clusters)),
    users: firstByName(files.map((f) => f.users)),
    contexts: firstByName(files.map((f) => f.contexts)),
    currentContext: files.find((f) => f.currentContext)?.currentContext ?? '',
  };
}

/**
 * The files kubectl reads: --kubeconfig alone when given; else every file of $KUBECONFIG (split on the path list
 * delimiter); else ~/.kube/config. Undefined: none, so the in-cluster service account, as kubectl in a pod.
 */
export function kubeconfigFiles(
  flag: string | undefined,
  env: string | undefined,
  home: string,
): string[] | undefined {
  if (flag) return [flag];
  if (env) return env.split(delimiter).filter(Boolean);
  const fallback = join(home, '.kube', 'config');
  return existsSync(fallback) ? [fallback] : undefined;
}

/** A KubeConfig as kubectl would build it from these flags and the environment; throws what kubectl would say. */
export function kubectlConfig(
  o: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): { kc: KubeConfig; namespace: string } {
  const kc = new KubeConfig();
  const files = kubeconfigFiles(o.kubeconfig, env.KUBECONFIG, homedir());
  if (!files) kc.loadFromCluster();
  else {
    // kubectl refuses an explicit --kubeconfig that does not exist, and skips missing files of $KUBECONFIG.
    if (o.kubeconfig && !existsSync(o.kubeconfig))
      throw new Error(`stat ${o.kubeconfig}: no such file or directory`);
    const loaded = files.filter(existsSync).map((f) => {
      const one = new KubeConfig();
      one.loadFromFile(f); // relative certificate paths resolve against the file's directory
      return one;
    });
    kc.loadFromOptions(mergeKubeconfigs(loaded));
  }
  if (o.context) {
    if (!kc.getContextObject(o.context))
      throw new Error(`context was not found for specified context: ${o.context}`);
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentCluster())
    throw new Error(
      'no cluster to talk to: give --kubeconfig or --context, set KUBECONFIG, or set a current-context in ~/.kube/config',
    );
  const namespace = o.namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  return { kc, namespace };
}

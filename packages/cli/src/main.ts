#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { retentionFromFlags, runAgent, tokenHostsFromFlags } from '@stateful-migration/agent';
import { API_GROUP, CHECKPOINT_RESTORE_LABEL, parseSize } from '@stateful-migration/api';
import { runHub } from '@stateful-migration/hub';
import { describeError } from '@stateful-migration/kube';
import { CHART_DIR, RENDERS, chartGeneratedFiles, chartYamlWithVersion, shippedFiles } from './chart.js';
import { renderChart } from './helm.js';
import { crdYaml } from './manifests.js';
import { DOCS_FILE, withPermissions } from './rbac.js';
import { parseDuration, type RestoreFlags } from './restore.js';
import { runRestore } from './restore-command.js';
import { showStatus, type StatusFlags } from './show-status.js';
import { VERSION } from './version.js';
import type { ConnectionFlags } from './kubeconfig.js';

const KUBECONFIG_HELP =
  'kubeconfig of the Karmada apiserver (default: as kubectl: $KUBECONFIG, its files merged, else ~/.kube/config)';
const CONTEXT_HELP = 'the kubeconfig context to use (default: its current-context)';
const NAMESPACE_HELP = "namespace (default: the context's namespace, else default)";

/** A non-negative integer flag; anything else makes the flag's value NaN, which the action refuses. */
const count = (v: string): number => (/^\d+$/.test(v) ? Number(v) : NaN);

/**
 * Run by kubectl as the plugin `kubectl stateful-migration` (the executable kubectl-stateful_migration sets this),
 * help and errors name the command the way the user typed it.
 */
const AS_KUBECTL_PLUGIN = process.env.STATEFUL_MIGRATION_KUBECTL_PLUGIN === '1';

// One entry point for every part: the agent, the hub, the status view, restores and the manifests.
const program = new Command()
  .name(AS_KUBECTL_PLUGIN ? 'kubectl stateful-migration' : 'stateful-migration')
  .description(
    `Checkpoints running containers in Karmada member clusters (${API_GROUP}), turns each checkpoint into an OCI image, ` +
      'and brings workloads back on another node or cluster.',
  )
  .version(VERSION);

program
  .command('agent')
  .description(
    'run the member agent for one node: checkpoints the CheckpointBackups whose pod runs on this node through the ' +
      'kubelet, builds checkpoint images (buildah for local ones), pushes them, and records every step in status',
  )
  .option('--kubeconfig <file>', 'kubeconfig of the member cluster (default: in-cluster service account)')
  .option('--node-name <name>', 'this node (env NODE_NAME, from the downward API)', process.env.NODE_NAME)
  .option('--node-ip <ip>', "the kubelet's address (env NODE_IP)", process.env.NODE_IP)
  .option('--kubelet-port <port>', 'the kubelet port', (v) => Number(v), 10250)
  .option('--kubelet-ca <file>', "CA that signed the kubelet's serving certificate")
  .option(
    '--kubelet-insecure-skip-tls-verify',
    "do not verify the kubelet's certificate (logs a warning)",
    false,
  )
  .option(
    '--token-file <file>',
    'bearer token for the kubelet',
    '/var/run/secrets/kubernetes.io/serviceaccount/token',
  )
  .option('--storage-root <dir>', 'containers-storage root for local images (buildah --root)')
  .option('--storage-runroot <dir>', 'containers-storage run root (buildah --runroot)')
  .option('--storage-driver <driver>', 'containers-storage driver, e.g. overlay or vfs')
  .option(
    '--checkpoint-store <path>',
    'the checkpoint-store helper that writes local checkpoint images into containers-storage (a path, or a name ' +
      'in PATH); where it is absent they are written with skopeo, slower',
    'checkpoint-store',
  )
  .option('--registry-ca <file>', 'extra CA bundle for registries')
  .option(
    '--registry-token-host <registry=host>',
    "trust host's https token service with the registry's credentials (repeatable), for registries whose token " +
      'service lives on another host: registry-1.docker.io=auth.docker.io, registry.gitlab.com=gitlab.com. ' +
      'Credentials go to no other host than the registry otherwise',
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .option(
    '--checkpoint-dir <dir>',
    "the kubelet's checkpoint directory on this node",
    '/var/lib/kubelet/checkpoints',
  )
  .option('--node-concurrency <n>', 'checkpoints at once on this node', (v) => Number(v), 2)
  .option('--checkpoint-timeout <seconds>', 'time the runtime may take per checkpoint', (v) => Number(v), 120)
  .option(
    '--buildah-timeout <seconds>',
    'time a buildah step may take before it is killed; add and commit get 1 s more per 10 MiB of archive',
    (v) => Number(v),
    120,
  )
  .option(
    '--registry-timeout <seconds>',
    'time a registry request may wait for its complete answer (after its upload, for a streamed one)',
    (v) => Number(v),
    120,
  )
  .option(
    '--registry-idle-timeout <seconds>',
    'time a registry connection may stay silent; a streamed upload lives as long as bytes flow',
    (v) => Number(v),
    60,
  )
  .option('--health-port <port>', 'port of /healthz, /readyz and /metrics', (v) => Number(v), 8081)
  // Retention defaults, as checkpoint-restore-operator's globalPolicy; each CheckpointBackup's spec.retention wins.
  .option('--max-checkpoints-per-container <n>', 'checkpoints kept per container (0: unlimited)', count, 10)
  .option('--max-checkpoints-per-pod <n>', 'checkpoints kept per pod (0: unlimited)', count, 0)
  .option('--max-checkpoints-per-namespace <n>', 'checkpoints kept per namespace (0: unlimited)', count, 0)
  .option(
    '--max-checkpoint-size <size>',
    'larger checkpoints are deleted; "512Mi" or MiB (0: unlimited)',
    '0',
  )
  .option('--max-total-size-per-container <size>', "total of a container's checkpoints (0: unlimited)", '0')
  .option('--max-total-size-per-pod <size>', "total of a pod's checkpoints (0: unlimited)", '0')
  .option('--max-total-size-per-namespace <size>', "total of a namespace's checkpoints (0: unlimited)", '0')
  .option('--no-retain-orphans', 'delete archives and local images of pods that no longer exist')
  .option('--retention-interval <seconds>', 'period of the retention sweep', count, 300)
  .option(
    '--default-secret-registries <hosts>',
    'comma-separated registry hosts (host[:port]) the default secret stateful-migration/registry-credentials is for; ' +
      'an object without spec.registry.secretRef that pushes elsewhere is refused. Empty: never used ' +
      '(env DEFAULT_SECRET_REGISTRIES)',
    process.env.DEFAULT_SECRET_REGISTRIES ?? '',
  )
  .option(
    '--host-root <dir>',
    "a read-only mount of the node's root filesystem (at least its /etc/crio), where the agent reads the container " +
      `runtime's configuration to publish whether the node allows restores (Node label ${CHECKPOINT_RESTORE_LABEL})`,
    '/host',
  )
  .action(async (opts: Parameters<typeof runAgent>[0]) => {
    if (!opts.nodeName || !opts.nodeIp)
      program.error('agent: --node-name and --node-ip (or NODE_NAME and NODE_IP) are required');
    for (const [flag, v] of Object.entries(retentionFromFlags(opts)))
      if ((typeof v === 'string' && parseSize(v) === undefined) || Number.isNaN(v))
        program.error(
          `agent: --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} "${v}" is not a count or size (sizes: 512Mi, 2Gi, or MiB)`,
        );
    try {
      tokenHostsFromFlags(opts.registryTokenHost);
    } catch (err) {
      program.error(`agent: ${(err as Error).message}`);
    }
    for (const flag of ['buildahTimeout', 'registryTimeout', 'registryIdleTimeout'] as const)
      if (!(opts[flag] > 0))
        program.error(
          `agent: --${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a positive number of seconds`,
        );
    if (!(opts.retentionInterval > 0))
      program.error('agent: --retention-interval must be a positive number of seconds');
    await runAgent(opts);
  });

/** A leader-election duration flag in ms (500ms, 90s, 1m, 1h30m): positive, and whole seconds where the Lease needs them. */
function leaderDuration(v: string, wholeSeconds = false): number {
  const ms = /^\d+ms$/.test(v) ? Number(v.slice(0, -2)) : parseDuration(v);
  if (!ms) throw new InvalidArgumentError('a positive duration such as 500ms, 15s or 1m.');
  if (wholeSeconds && ms % 1000 !== 0)
    throw new InvalidArgumentError('whole seconds (a Lease counts in seconds).');
  return ms;
}

program
  .command('hub')
  .description(
    'run the hub controller against the Karmada apiserver: places each CheckpointBackup in member clusters with a ' +
      'PropagationPolicy of its own, carries registry secrets to exactly the clusters that need them, and brings ' +
      "the members' status back into one aggregated status",
  )
  .option('--kubeconfig <file>', 'kubeconfig of the Karmada apiserver (default: in-cluster service account)')
  .option('--health-port <port>', 'port of /healthz, /readyz and /metrics', (v) => Number(v), 8082)
  .option('--no-leader-elect', 'act without holding the leader Lease (only with a single replica)')
  .option(
    '--leader-elect-namespace <ns>',
    'namespace of the leader Lease on the Karmada apiserver',
    'karmada-system',
  )
  .option('--leader-elect-name <name>', 'name of the leader Lease', 'stateful-migration-hub')
  .addOption(
    new Option(
      '--leader-elect-lease-duration <duration>',
      'how long a standby waits after the last renewal it saw before it takes the Lease (whole seconds: 15s, 1m), ' +
        "as kube-controller-manager's flag of that name",
    )
      .argParser((v) => leaderDuration(v, true))
      .default(15_000, '15s'),
  )
  .addOption(
    new Option(
      '--leader-elect-renew-deadline <duration>',
      'how long the leader keeps trying to renew the Lease before it stops acting and exits; shorter than the ' +
        'lease duration. A Karmada apiserver too busy to answer a renewal within it costs a restart, never two leaders',
    )
      .argParser((v) => leaderDuration(v))
      .default(10_000, '10s'),
  )
  .addOption(
    new Option('--leader-elect-retry-period <duration>', 'between attempts to take or renew the Lease')
      .argParser((v) => leaderDuration(v))
      .default(2_000, '2s'),
  )
  .option('--identity <id>', 'this replica in the Lease (default: hostname-pid)')
  .option(
    '--workers <n>',
    "CheckpointBackups and secrets reconciled at once; the backups controller keeps 2 more workers for members' answers to show",
    (v) => Number(v),
    // 16 met both of issue 12's hub goals at 3000 objects (placement within 10%, status back within 1.2x); 8
    // placed as fast but let answers wait (docs/benchmarks.md, ADR 0019).
    16,
  )
  .option(
    '--default-secret-registries <hosts>',
    'comma-separated registry hosts (host[:port]) the default secret stateful-migration/registry-credentials is for, ' +
      'as the agents have it; the hub refuses an object without spec.registry.secretRef that pushes elsewhere and ' +
      'never carries the default secret for it. Empty: never used (env DEFAULT_SECRET_REGISTRIES)',
    process.env.DEFAULT_SECRET_REGISTRIES ?? '',
  )
  .option(
    '--webhook-port <port>',
    "port of the admission webhook the members' apiservers call for workload migrations (0: none, and workload " +
      'migrations are refused)',
    (v) => Number(v),
    0,
  )
  .option('--webhook-cert <file>', "PEM file of the webhook's serving certificate")
  .option('--webhook-key <file>', 'PEM file of its key')
  .option('--webhook-ca <file>', 'PEM file of the CA that signed it (the caBundle the members are given)')
  .option(
    '--webhook-client-ca <file>',
    "PEM file of the CA that signs the client certificates the members' apiservers present to the webhook " +
      '(their AdmissionConfiguration kubeConfigFile); set, any other caller is refused (403). Unset: callers are ' +
      'not authenticated, and anyone who reaches the URL can use up checkpoints (docs/security.md)',
  )
  .option(
    '--webhook-client-cluster-from <cn|uri>',
    "binds each member to its own webhook path (needs --webhook-client-ca): the client certificate's subject CN " +
      '(cn), or a subjectAltName URI karmada-cluster://<cluster> (uri), must name the cluster of the path it calls; ' +
      'any other call is refused (403). Unset: any certificate the client CA signed may call as any member',
    (v) => {
      if (v !== 'cn' && v !== 'uri') throw new Error(`--webhook-client-cluster-from: cn or uri, not ${v}`);
      return v;
    },
  )
  .option(
    '--webhook-url <url>',
    "the webhook's base URL as the members' apiservers reach it, e.g. https://hub.example.com:8443",
  )
  .action(async (opts: Parameters<typeof runHub>[0]) => {
    // client-go refuses the same: a leader still renewing after a standby may take over means two leaders.
    if ((opts.leaderElectRenewDeadline ?? 0) >= (opts.leaderElectLeaseDuration ?? 0))
      program.error(
        'error: --leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration',
      );
    // client-go's rule too: a renewal attempt (jittered up to 1.2 periods) must fit in the deadline.
    if ((opts.leaderElectRenewDeadline ?? 0) <= 1.2 * (opts.leaderElectRetryPeriod ?? 0))
      program.error(
        'error: --leader-elect-renew-deadline must be more than 1.2 times --leader-elect-retry-period',
      );
    return runHub(opts);
  });

program
  .command('status')
  .argument('[name]', 'one CheckpointBackup (default: all in the namespace)')
  .description(
    'show CheckpointBackups across member clusters, from the hub: one row per cluster and container with node, ' +
      'pod, phase, image, whether it was pushed, and the last checkpoint',
  )
  .option('--kubeconfig <file>', KUBECONFIG_HELP)
  .option('--context <name>', CONTEXT_HELP)
  .option('-n, --namespace <ns>', NAMESPACE_HELP)
  .option('-A, --all-namespaces', 'every namespace', false)
  .option('-o, --output <format>', 'table, json or yaml', 'table')
  .option('-w, --watch', 'keep printing as the status changes', false)
  .action(async (name: string | undefined, opts: StatusFlags) => {
    if (!['table', 'json', 'yaml'].includes(opts.output))
      program.error(`status: -o must be table, json or yaml, not ${opts.output}`);
    await showStatus(name, opts).catch((err: unknown) => program.error(`status: ${describeError(err)}`));
  });

program
  .command('restore')
  .argument('<backup>', 'a CheckpointBackup in the namespace (of one pod, or of a workload: the same kind)')
  .description(
    'bring a checkpoint back in a member cluster: create a CheckpointRestore on the Karmada apiserver (validated there ' +
      'as kubectl apply would be) and, with --wait, show its progress until it ends.\n\n' +
      "Restore (default): a copy from the backup's latest checkpoint; its state is as of that checkpoint, and the " +
      'source keeps running.\n' +
      'Migrate (--migrate): a fresh checkpoint of the source is taken now and the source pod is stopped right after ' +
      'it; the copy goes on from the state the source had when it stopped (nothing it did is lost, nothing runs ' +
      'twice). A target that cannot restore is refused before the source is touched.',
  )
  .requiredOption('--to <cluster>', 'the member cluster to restore into')
  .option(
    '--node <node>',
    'the node to restore on (default: the scheduler picks one whose runtime allows restores)',
  )
  .option(
    '--migrate',
    'move: checkpoint the source now, stop it, restore there (default: copy, source untouched)',
    false,
  )
  .option('--wait', 'follow the restore and print each change of phase and message until it ends', false)
  .option(
    '--timeout <duration>',
    'with --wait, give up waiting after this long (90s, 10m, 1h; 0: forever); the restore itself goes on',
    '15m',
  )
  .option(
    '--name <name>',
    'name of the CheckpointRestore (default: <backup>-restore-xxxxx / <backup>-migrate-xxxxx)',
  )
  .option('--pod-name <name>', 'name of the restored pod (default: <source pod>-restored)')
  .option('--kubeconfig <file>', KUBECONFIG_HELP)
  .option('--context <name>', CONTEXT_HELP)
  .option('-n, --namespace <ns>', NAMESPACE_HELP)
  .addHelpText(
    'after',
    `
A backup of a whole Deployment or StatefulSet (no podRef) migrates the workload: --migrate moves it to the target
through Karmada, every replica from its own fresh checkpoint (set spec.rollback on the CheckpointRestore to give it
back).

Exit status (with --wait): 0 once Restored (or, for --migrate, once the source is stopped and the copy has
taken over), 1 when the restore failed (its message is printed) or --timeout passed, 130 on Ctrl-C.

Examples:
  ${AS_KUBECTL_PLUGIN ? 'kubectl stateful-migration' : 'stateful-migration'} restore web-backup --to member2 --wait
  ${AS_KUBECTL_PLUGIN ? 'kubectl stateful-migration' : 'stateful-migration'} restore web-backup --to member2 --node m2-a --migrate --wait -n shop
  kubectl stateful-migration restore web-backup --to member2 --migrate --wait --context karmada-apiserver
  kubectl stateful-migration restore db-all-replicas --to member2 --migrate --wait -n shop

As a kubectl plugin: put kubectl-stateful_migration (packages/cli/bin) on PATH; kubectl runs it for
"kubectl stateful-migration ..." with the arguments and environment as they are, so --kubeconfig, --context,
-n/--namespace and KUBECONFIG work as they do for kubectl (give flags after "stateful-migration": kubectl does not
pass flags placed before a plugin's name). Point it at the Karmada apiserver, where CheckpointRestores live.`,
  )
  .action(async (backup: string, opts: RestoreFlags & ConnectionFlags) => {
    const timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined)
      program.error(`restore: --timeout "${opts.timeout}" is not a duration (90s, 10m, 1h, or seconds)`);
    try {
      process.exitCode = await runRestore(backup, opts, timeoutMs ?? 0);
    } catch (err) {
      program.error(`restore: ${describeError(err)}`);
    }
  });

program
  .command('crd')
  .description(
    'print the CheckpointBackup CustomResourceDefinition as YAML (--write regenerates, in a clone of the repository, ' +
      "the chart's generated templates, deploy/ and karmada/ rendered from the chart with helm, and " +
      "docs/security.md's permission tables)",
  )
  .option('--write <repo>', 'regenerate the files of the repository at <repo> instead (needs helm)')
  .action((opts: { write?: string }) => {
    if (!opts.write) return void process.stdout.write(crdYaml());
    const write = (f: string, text: string) => {
      mkdirSync(dirname(join(opts.write!, f)), { recursive: true });
      writeFileSync(join(opts.write!, f), text);
    };
    for (const [f, text] of Object.entries(chartGeneratedFiles)) write(f, text());
    const chartYaml = join(CHART_DIR, 'Chart.yaml');
    write(chartYaml, chartYamlWithVersion(readFileSync(join(opts.write, chartYaml), 'utf8'), VERSION));
    try {
      for (const { installMode } of RENDERS)
        for (const [f, text] of Object.entries(
          shippedFiles(installMode, renderChart(opts.write, installMode)),
        ))
          write(f, text);
    } catch (err) {
      program.error(`crd --write: ${describeError(err)}`);
    }
    const docs = join(opts.write, DOCS_FILE);
    writeFileSync(docs, withPermissions(readFileSync(docs, 'utf8')));
  });

await program.parseAsync();

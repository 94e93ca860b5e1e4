#!/usr/bin/env node
import { Command } from 'commander';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runAgent } from '@stateful-migration/agent';
import { API_GROUP } from '@stateful-migration/api';
import { crdYaml, generatedFiles, hubOnlyFiles } from './manifests.js';

// One entry point; the agent, hub and status subcommands join it as they are built.
const program = new Command()
  .name('stateful-migration')
  .description(
    `Checkpoints running containers in Karmada member clusters (${API_GROUP}), turns each checkpoint into an OCI image, ` +
      'and brings workloads back on another node or cluster.',
  )
  .version('0.1.0');

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
  .option('--registry-ca <file>', 'extra CA bundle for registries')
  .option(
    '--checkpoint-dir <dir>',
    "the kubelet's checkpoint directory on this node",
    '/var/lib/kubelet/checkpoints',
  )
  .option('--node-concurrency <n>', 'checkpoints at once on this node', (v) => Number(v), 2)
  .option('--checkpoint-timeout <seconds>', 'time the runtime may take per checkpoint', (v) => Number(v), 120)
  .option('--health-port <port>', 'port of /healthz, /readyz and /metrics', (v) => Number(v), 8081)
  .action(async (opts: Parameters<typeof runAgent>[0]) => {
    if (!opts.nodeName || !opts.nodeIp)
      program.error('agent: --node-name and --node-ip (or NODE_NAME and NODE_IP) are required');
    await runAgent(opts);
  });

program
  .command('crd')
  .description(
    'print the CheckpointBackup CustomResourceDefinition as YAML (--write also writes the hub-only CheckpointRestore CRD)',
  )
  .option('--write <repo>', 'write it into <repo>/deploy/crds and <repo>/karmada/crds instead')
  .action((opts: { write?: string }) => {
    if (!opts.write) return void process.stdout.write(crdYaml());
    for (const f of generatedFiles) {
      const path = join(opts.write, f);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, crdYaml());
    }
    for (const [f, yaml] of Object.entries(hubOnlyFiles)) {
      mkdirSync(dirname(join(opts.write, f)), { recursive: true });
      writeFileSync(join(opts.write, f), yaml());
    }
  });

await program.parseAsync();

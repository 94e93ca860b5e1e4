#!/usr/bin/env node
import { Command } from 'commander';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { API_GROUP } from '@stateful-migration/api';
import { crdYaml, generatedFiles } from './manifests.js';

// One entry point; the agent, hub and status subcommands join it as they are built.
const program = new Command()
  .name('stateful-migration')
  .description(
    `Checkpoints running containers in Karmada member clusters (${API_GROUP}), turns each checkpoint into an OCI image, ` +
      'and brings workloads back on another node or cluster.',
  )
  .version('0.1.0');

program
  .command('crd')
  .description('print the CheckpointBackup CustomResourceDefinition as YAML')
  .option('--write <repo>', 'write it into <repo>/deploy/crds and <repo>/karmada/crds instead')
  .action((opts: { write?: string }) => {
    if (!opts.write) return void process.stdout.write(crdYaml());
    for (const f of generatedFiles) {
      const path = join(opts.write, f);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, crdYaml());
    }
  });

await program.parseAsync();

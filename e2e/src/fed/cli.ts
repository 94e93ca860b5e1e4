import { Command } from 'commander';
import { fail, heal } from './outage.js';
import { down, status, up } from './up.js';
import { CHART_PODS_ENV } from './chart-pods.js';
import { CHART_HUB_ENV } from './chart-hub.js';

const program = new Command()
  .name('fed')
  .description(
    'A real Karmada federation (etcd, apiservers, Karmada, two members, node stand-ins) as local processes.',
  );
program
  .command('up')
  .description('start everything (idempotent); writes .fed/karmada-config, member1-config, member2-config')
  .option(
    '--chart-pods <nodes>',
    `run the agent of these nodes (comma-separated, e.g. m1-b) as the chart's DaemonSet pod from the product image, built (cached by its inputs) and pushed to the federation's registry; default $${CHART_PODS_ENV}`,
  )
  .option(
    '--chart-hub <node>',
    `run the hub as the chart's Deployment (installMode=host) in a pod on this node (e.g. m1-a), its member playing Karmada's host cluster, from the same image; default $${CHART_HUB_ENV}`,
  )
  .action(async (opts: { chartPods?: string; chartHub?: string }) => {
    if (opts.chartPods !== undefined) process.env[CHART_PODS_ENV] = opts.chartPods;
    if (opts.chartHub !== undefined) process.env[CHART_HUB_ENV] = opts.chartHub;
    process.exitCode = (await up()) ? 0 : 1;
  });
program
  .command('down')
  .description('stop exactly the processes `up` started (idempotent)')
  .action(async () => {
    await down();
  });
program
  .command('status')
  .description('show each process and whether it runs; exit 1 if anything is down')
  .action(() => {
    process.exitCode = status() ? 0 : 1;
  });
program
  .command('fail')
  .argument('<member>', 'member1 or member2')
  .description(
    "take a member cluster down as an outage looks from Karmada: its apiserver, controllers, node stand-ins and agents stop answering and its containers freeze; Karmada marks it not Ready once its health checks have failed for --cluster-failure-threshold (30 s, each check waiting out the member client's 32 s timeout: about 70 s in all), taints it NoExecute (the federation's ClusterTaintPolicy) and fails its workloads over",
  )
  .action((member: string) => {
    const r = fail(member);
    process.stdout.write(
      `fed: ${member} is down (${r.processes} processes stopped, ${r.containers} containers frozen)\n`,
    );
  });
program
  .command('heal')
  .argument('<member>', 'member1 or member2')
  .description(
    'bring a failed member cluster back where it stopped (its old pods included); Karmada sees it Ready again after --cluster-success-threshold (5 s here)',
  )
  .action((member: string) => {
    const r = heal(member);
    process.stdout.write(
      `fed: ${member} is back (${r.processes} processes resumed, ${r.containers} containers thawed)\n`,
    );
  });
await program.parseAsync();

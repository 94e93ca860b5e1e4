import { Command } from 'commander';
import { down, status, up } from './up.js';

const program = new Command()
  .name('fed')
  .description(
    'A real Karmada federation (etcd, apiservers, Karmada, two members, node stand-ins) as local processes.',
  );
program
  .command('up')
  .description('start everything (idempotent); writes .fed/karmada-config, member1-config, member2-config')
  .action(async () => {
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
await program.parseAsync();

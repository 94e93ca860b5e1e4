import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePki } from './certs.js';
import { ComponentError, FedContext } from './context.js';
import { parts } from './parts.js';
import { fedDir, logDir, missingBinaries, repoRoot } from './paths.js';
import { isOurs, readState, rssKiB, stopProcesses, writeState, type FedState } from './procs.js';
import { spawnSync } from 'node:child_process';
import { stopNodeContainers } from './runtimes.js';
import { failedMembers, healAll } from './outage.js';
import { releaseNodeAddresses } from './node-net.js';

const say = (s: string): void => void process.stdout.write(`${s}\n`);

/** Brings the whole federation up, or reports that it already is. Idempotent. */
export async function up(): Promise<boolean> {
  const t0 = Date.now();
  const existing = readState();
  if (existing) {
    const live = existing.procs.filter(isOurs);
    if (existing.readyAt && live.length === existing.procs.length) {
      say(`fed: already up since ${existing.readyAt} (${live.length} processes); kubeconfigs in ${fedDir}`);
      return true;
    }
    say(
      `fed: found a stale ${fedDir} from an interrupted run (${live.length}/${existing.procs.length} processes alive); ` +
        'stopping them and starting fresh',
    );
    healAll();
    await stopProcesses(existing.procs);
    stopNodeContainers();
    releaseNodeAddresses();
    rmSync(fedDir, { recursive: true, force: true });
  } else if (existsSync(fedDir)) {
    stopNodeContainers();
    releaseNodeAddresses();
    rmSync(fedDir, { recursive: true, force: true });
  }
  if (!ensureBinaries()) return false;
  mkdirSync(logDir, { recursive: true });
  const state: FedState = { ports: {}, procs: [] };
  writeState(state);
  const ctx = new FedContext(state, ensurePki(join(fedDir, 'pki')));
  try {
    for (const part of parts) {
      say(`fed: starting ${part.name}`);
      await part.up(ctx);
    }
  } catch (err) {
    say(
      err instanceof ComponentError
        ? err.message
        : `fed: ${err instanceof Error ? err.message : String(err)}`,
    );
    const n = await stopProcesses(state.procs);
    stopNodeContainers();
    releaseNodeAddresses();
    rmSync(join(fedDir, 'state.json'), { force: true });
    say(`fed: stopped the ${n} processes this run had started`);
    return false;
  }
  state.readyAt = new Date().toISOString();
  writeState(state);
  printFigures(ctx, state, Date.now() - t0);
  return true;
}

function ensureBinaries(): boolean {
  const missing = missingBinaries();
  if (missing.length === 0) return true;
  say(`fed: building ${missing.length} missing binaries (${missing.join(', ')}); a cold build takes a while`);
  const r = spawnSync('bash', [join(repoRoot, 'e2e/scripts/build-binaries.sh')], { stdio: 'inherit' });
  return r.status === 0;
}

function printFigures(ctx: FedContext, state: FedState, totalMs: number): void {
  say('\nfed: time to ready');
  for (const t of ctx.timings) say(`  ${t.name.padEnd(38)} ${(t.ms / 1000).toFixed(1).padStart(6)} s`);
  say(`  ${'total'.padEnd(38)} ${(totalMs / 1000).toFixed(1).padStart(6)} s`);
  const rss = state.procs.reduce((sum, p) => sum + rssKiB(p.pid), 0);
  say(`fed: ${state.procs.length} processes, total RSS ${(rss / 1024).toFixed(0)} MiB`);
  say(`fed: kubeconfigs: ${fedDir}/karmada-config, member1-config, member2-config; logs in ${logDir}`);
}

/** Stops exactly the processes `up` recorded, then removes .fed/ (logs kept under .fed/logs until next up). */
export async function down(): Promise<void> {
  const state = readState();
  if (!state) {
    // A crash may have lost state.json after the nodes' addresses were added: they carry our label on lo.
    const addresses = releaseNodeAddresses();
    say('fed: nothing to stop');
    if (addresses) say(`fed: removed ${addresses} node addresses from lo`);
    return;
  }
  // A failed member's processes are stopped (SIGSTOP) and would not act on SIGTERM: bring them back first.
  healAll();
  const n = await stopProcesses(state.procs);
  const containers = stopNodeContainers();
  const addresses = releaseNodeAddresses();
  rmSync(join(fedDir, 'state.json'), { force: true });
  for (const d of ['etcd', 'pki', 'nodes', 'images'])
    rmSync(join(fedDir, d), { recursive: true, force: true });
  say(`fed: stopped ${n} processes and ${containers} containers`);
  say(`fed: removed ${addresses} node addresses from lo`);
}

export function status(): boolean {
  const state = readState();
  if (!state) {
    say('fed: down');
    return false;
  }
  let ok = !!state.readyAt;
  say(`fed: ${state.readyAt ? `up since ${state.readyAt}` : 'not ready (interrupted or starting)'}`);
  const failed = failedMembers(state);
  if (failed.length > 0)
    say(`fed: failed by \`fed fail\`: ${failed.join(', ')} (\`fed heal <member>\` brings it back)`);
  for (const p of state.procs) {
    const alive = isOurs(p);
    ok &&= alive;
    say(
      `  ${p.name.padEnd(38)} pid ${String(p.pid).padEnd(8)} ${alive ? `running ${(rssKiB(p.pid) / 1024).toFixed(0)} MiB` : 'NOT RUNNING'}`,
    );
  }
  return ok;
}

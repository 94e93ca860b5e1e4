// suite: shares — scratch federations and caches of its own, whose `fed up` fails before anything runs
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../fed/paths.js';

const fedCli = join(repoRoot, 'e2e/dist/fed/cli.js');
const buildScript = join(repoRoot, 'e2e/scripts/build-binaries.sh');

/** Runs `fed up` against a scratch .fed directory, so the main federation is left alone. */
function fedUp(env: NodeJS.ProcessEnv): { out: string; status: number | null; fedDir: string } {
  const fedDir = env.FED_DIR ?? mkdtempSync(join(tmpdir(), 'fed-'));
  const r = spawnSync(process.execPath, [fedCli, 'up'], {
    env: { ...process.env, FED_DIR: fedDir, ...env },
    encoding: 'utf8',
  });
  return { out: r.stdout + r.stderr, status: r.status, fedDir };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const listen = (): Promise<{ server: Server; port: number }> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, port: (server.address() as { port: number }).port }),
    );
  });

describe('fed up: bad input gets one clear line and leaves nothing running', () => {
  it('names the missing Go toolchain', () => {
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    const r = spawnSync('bash', [buildScript], {
      env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME, STATEFUL_MIGRATION_CACHE: cache },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^build-binaries: the Go toolchain is missing/m);
  });

  it('names an unreachable module proxy and the build log', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'proxy-'));
    const r = spawnSync('bash', [buildScript], {
      env: {
        ...process.env,
        STATEFUL_MIGRATION_CACHE: join(tmp, 'cache'),
        GOMODCACHE: join(tmp, 'mod'),
        GOPROXY: 'http://127.0.0.1:9',
        GOFLAGS: '-mod=mod',
      },
      encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    // The first binary the script builds (helm since the chart, etcd before) fails: named with its version and log.
    assert.match(r.stderr, /^build-binaries: building [a-z-]+ v\d+\.\d+\.\d+ failed; log: \S+\.log$/m);
    assert.match(r.stderr, /module proxy \(http:\/\/127\.0\.0\.1:9\) looks unreachable/);
  });

  it('names a taken port', async () => {
    const { server, port } = await listen();
    try {
      const r = fedUp({ FED_PORT_ETCD: String(port) });
      assert.equal(r.status, 1);
      assert.match(
        r.out,
        new RegExp(`^fed: etcd cannot start: port 127\\.0\\.0\\.1:${port} is taken by another process$`, 'm'),
      );
      assert.equal(existsSync(join(r.fedDir, 'state.json')), false);
    } finally {
      server.close();
    }
  });

  it('names a component that never gets ready, with its log, and stops it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'never-'));
    const fake = join(dir, 'etcd');
    writeFileSync(fake, '#!/bin/bash\necho "pretending to start"\nexec sleep 600\n');
    chmodSync(fake, 0o755);
    const r = fedUp({ FED_BIN_ETCD: fake, FED_READY_TIMEOUT_MS: '3000' });
    assert.equal(r.status, 1);
    assert.match(r.out, /^fed: etcd was not ready after 3s \(log: \S+\/logs\/etcd\.log\)$/m);
    assert.match(r.out, /stopped the 1 processes this run had started/);
    assert.match(readFileSync(join(r.fedDir, 'logs/etcd.log'), 'utf8'), /pretending to start/);
    const leftovers = spawnSync('pgrep', ['-f', fake]).stdout.toString().trim();
    assert.equal(leftovers, '', 'the fake component is stopped');
  });

  it('names a component that exits before it is ready, though its supervisor would start it again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'exits-'));
    const fake = join(dir, 'etcd');
    writeFileSync(fake, '#!/bin/bash\necho "giving up"\nexit 3\n');
    chmodSync(fake, 0o755);
    const r = fedUp({ FED_BIN_ETCD: fake });
    assert.equal(r.status, 1);
    assert.match(r.out, /^fed: etcd exited before it was ready \(log: \S+\/logs\/etcd\.log\)$/m);
    assert.match(r.out, /stopped the 1 processes this run had started/);
    assert.match(
      readFileSync(join(r.fedDir, 'logs/etcd.log'), 'utf8'),
      /fed-supervise: \S+ exited \(code 3\)/,
    );
    const leftovers = spawnSync('pgrep', ['-f', fake]).stdout.toString().trim();
    assert.equal(leftovers, '', 'neither the fake component nor its supervisor is left');
  });

  it('cleans up a stale .fed/ from a killed run, stopping its recorded processes', async () => {
    const fedDir = mkdtempSync(join(tmpdir(), 'stale-'));
    const orphan = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    orphan.unref();
    const pid = orphan.pid!;
    await sleep(100);
    writeFileSync(
      join(fedDir, 'state.json'),
      JSON.stringify({
        ports: {},
        procs: [{ name: 'etcd', pid, exe: 'sleep', log: join(fedDir, 'logs/etcd.log') }],
      }),
    );
    const { server, port } = await listen();
    try {
      // The taken port ends the fresh start early: this case is about the clean-up before it.
      const r = fedUp({ FED_DIR: fedDir, FED_PORT_ETCD: String(port) });
      assert.match(
        r.out,
        /^fed: found a stale \S+ from an interrupted run \(1\/1 processes alive\); stopping them and starting fresh$/m,
      );
      const exited = await Promise.race([
        once(orphan, 'exit').then(() => true),
        sleep(5000).then(() => false),
      ]);
      assert.ok(exited, 'the recorded process of the killed run is stopped');
    } finally {
      server.close();
    }
  });
});

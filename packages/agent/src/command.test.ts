import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Logger, RestClient } from '@stateful-migration/kube';
import { tempDir } from '@stateful-migration/kube/testing';
import { CommandTimeout, runCommand } from './command.js';
import {
  BUILDAH_TIMEOUT_MS,
  MIN_COPY_BYTES_PER_SECOND,
  buildLocalImage,
  buildah,
  buildahTimeoutMs,
  localImageDigest,
} from './image.js';
import { AgentMetrics } from './metrics.js';
import { RetentionSweeper } from './retention-sweep.js';

const dir = tempDir('command-');

/** A fake buildah: a shell script that logs its arguments and then does what `body` says. */
function fake(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "$*" >> ${path}.calls\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
const calls = (path: string): string[] =>
  existsSync(`${path}.calls`) ? readFileSync(`${path}.calls`, 'utf8').trim().split('\n') : [];

/** Alive: exists and is not a zombie waiting for a reaper. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail('not within time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const timedOut = (step: RegExp) => (e: unknown) => {
  assert.ok(e instanceof CommandTimeout, String(e));
  assert.match(e.message, step);
  assert.equal(e.transient, true);
  return true;
};

describe('runCommand: a deadline, the whole process group killed, a message naming the step', () => {
  it('returns stdout, trimmed', async () => {
    assert.equal(await runCommand('sh', ['-c', 'echo "  hi  "'], { step: 'echo', timeoutMs: 5000 }), 'hi');
  });

  it('a failure says the step and the last line of stderr', async () => {
    await assert.rejects(
      runCommand('sh', ['-c', 'echo first >&2; echo "Error: boom" >&2; exit 3'], {
        step: 'buildah inspect',
        timeoutMs: 5000,
      }),
      /^Error: buildah inspect failed: Error: boom$/,
    );
  });

  it('a missing binary says so', async () => {
    await assert.rejects(
      runCommand('/nonexistent/buildah', [], { step: 'buildah from', timeoutMs: 5000 }),
      /buildah from: cannot run \/nonexistent\/buildah \(ENOENT\)/,
    );
  });

  it('a command that hangs is killed at the deadline, with the children it started', async () => {
    const pids = join(dir, 'hang.pids');
    const script = fake('hang', `echo $$ > ${pids}; sleep 30 & echo $! >> ${pids}; wait`);
    const t0 = Date.now();
    await assert.rejects(
      runCommand(script, ['from', 'scratch'], {
        step: 'buildah from',
        // Long enough for sh to start and write its pids on a loaded machine before the deadline kills it.
        timeoutMs: 1500,
        reason: 'BuildahTimeout',
      }),
      (e: unknown) =>
        timedOut(/^buildah from timed out after 1.5 s and was killed$/)(e) &&
        (e as CommandTimeout).reason === 'BuildahTimeout',
    );
    assert.ok(Date.now() - t0 < 15_000, 'it did not wait for the children (sleep 30), which hold its stdout');
    const [sh, sleep] = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    await eventually(() => !alive(sh!) && !alive(sleep!));
  });

  it('one that ignores SIGTERM gets SIGKILL after the grace period', async () => {
    const pids = join(dir, 'stubborn.pids');
    const script = fake('stubborn', `trap '' TERM; echo $$ > ${pids}; sleep 30 & echo $! >> ${pids}; wait`);
    await assert.rejects(
      // The deadline leaves sh time to set its trap and write its pids even on a loaded machine; a SIGTERM before
      // the trap would end it at once and prove nothing about the grace period.
      runCommand(script, [], { step: 'buildah commit', timeoutMs: 1500, graceMs: 1000 }),
      timedOut(/buildah commit timed out/),
    );
    const [sh, sleep] = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(alive(sh!), 'still alive within the grace period');
    await eventually(() => !alive(sh!) && !alive(sleep!));
  });
});

describe('buildah steps: every one bounded, copies given time by size', () => {
  it('buildahTimeoutMs: the base, plus a second per 10 MiB copied', () => {
    assert.equal(BUILDAH_TIMEOUT_MS, 120_000);
    assert.equal(MIN_COPY_BYTES_PER_SECOND, 10 << 20);
    assert.equal(buildahTimeoutMs(120_000), 120_000);
    assert.equal(buildahTimeoutMs(120_000, 0), 120_000);
    assert.equal(buildahTimeoutMs(120_000, 1), 121_000);
    assert.equal(buildahTimeoutMs(120_000, 10 << 20), 121_000);
    assert.equal(buildahTimeoutMs(120_000, (10 << 20) + 1), 122_000);
    assert.equal(buildahTimeoutMs(120_000, 10 * 2 ** 30), 120_000 + 1024_000, '10 GiB: 17 more minutes');
    assert.equal(buildahTimeoutMs(1000, -5), 1000);
  });

  it('buildah passes the storage flags and says which step timed out, and on what', async () => {
    const script = fake('buildah-hang', 'sleep 30');
    await assert.rejects(
      buildah({ command: script, timeoutMs: 200, root: '/r', driver: 'vfs' }, ['images', '--json'], {
        what: 'x',
      }),
      timedOut(/^buildah images \(x\) timed out after 0.2 s/),
    );
    assert.deepEqual(calls(script), ['--root /r --storage-driver vfs images --json']);
  });

  it('a hung skopeo copy fails the build naming the step, the archive and the image, and leaves no layout behind', async () => {
    const script = fake(
      'skopeo-copy-hangs',
      'case "$1" in inspect) echo "image not known" >&2; exit 1;; copy) echo "$4" > "$0.layout"; exec sleep 30;; *) ;; esac',
    );
    const archive = join(dir, 'a.tar');
    writeFileSync(archive, 'x');
    await assert.rejects(
      buildLocalImage({ command: script, skopeo: script, timeoutMs: 300 }, archive, 'localhost/c:t', {}),
      timedOut(new RegExp(`^skopeo copy \\(${archive} into localhost/c:t\\) timed out after 1.3 s`)),
    );
    assert.deepEqual(
      calls(script).map((c) => c.split(' ')[0]),
      ['inspect', 'copy'],
    );
    const layout = readFileSync(`${script}.layout`, 'utf8')
      .trim()
      .replace(/^oci:|:checkpoint$/g, '');
    assert.ok(!existsSync(layout), `the OCI layout ${layout} is removed`);
  });

  it('checkpoint-store: a hung write fails the build naming the step, the archive and the image; a hung lookup is an error', async () => {
    const script = fake(
      'checkpoint-store-hangs',
      'case "$1" in digest) exit 0;; write) echo "$2" > "$0.layout"; exec sleep 30;; *) ;; esac',
    );
    const archive = join(dir, 'b.tar');
    writeFileSync(archive, 'x');
    await assert.rejects(
      buildLocalImage({ checkpointStore: script, timeoutMs: 300 }, archive, 'localhost/c:t', {}),
      timedOut(
        new RegExp(`^checkpoint-store write \\(${archive} into localhost/c:t\\) timed out after 1.3 s`),
      ),
    );
    assert.deepEqual(
      calls(script).map((c) => c.split(' ')[0]),
      ['digest', 'write'],
    );
    assert.ok(!existsSync(readFileSync(`${script}.layout`, 'utf8').trim()), 'the OCI layout is removed');
    const hung = fake('checkpoint-store-digest-hangs', 'exec sleep 30');
    await assert.rejects(
      localImageDigest({ checkpointStore: hung, timeoutMs: 200 }, 'localhost/x:1'),
      timedOut(/checkpoint-store digest \(localhost\/x:1\) timed out/),
    );
  });

  it('localImageDigest: an unknown image is undefined; a hung or failing inspect is an error (not a reason to rebuild)', async () => {
    const missing = fake('buildah-missing', 'echo "image not known" >&2; exit 125');
    assert.equal(await localImageDigest({ command: missing }, 'localhost/x:1'), undefined);
    const locked = fake(
      'buildah-locked',
      'echo "Error: creating lock file: open /var/lib/containers/storage/overlay-images/images.lock: permission denied" >&2; exit 125',
    );
    await assert.rejects(
      localImageDigest({ command: locked }, 'localhost/x:1'),
      /images\.lock: permission denied/,
    );
    const hung = fake('buildah-inspect-hangs', 'exec sleep 30');
    await assert.rejects(
      localImageDigest({ command: hung, timeoutMs: 200 }, 'localhost/x:1'),
      timedOut(/buildah inspect \(localhost\/x:1\) timed out/),
    );
  });
});

describe('retention with a hung buildah', () => {
  it('a sweep ends (local images skipped, archives still swept) instead of waiting for buildah', async () => {
    const script = fake(
      'buildah-sweep',
      'case "$1" in images) echo \'[{"id":"abc","names":["localhost/x:1"]}]\';; *) exec sleep 30;; esac',
    );
    const warnings: string[] = [];
    const log = {
      warn: (_o: unknown, msg: string) => warnings.push(msg),
      info: () => undefined,
      child: () => log,
    } as unknown as Logger;
    const client = { get: async () => ({ items: [] }) } as unknown as RestClient;
    const sweeper = new RetentionSweeper({
      node: 'n1',
      client,
      admitted: () => true,
      log,
      storage: { command: script, timeoutMs: 300 },
      checkpointDir: mkdtempSync(join(dir, 'ckpt-')),
      defaults: {},
      metrics: new AgentMetrics(),
      responsible: () => true,
      registryClient: () => Promise.reject(new Error('none')),
      writeStatus: () => Promise.reject(new Error('none')),
      event: () => Promise.resolve(),
    });
    const t0 = Date.now();
    await sweeper.sweep();
    assert.ok(Date.now() - t0 < 15_000); // buildah here sleeps 30 s
    assert.deepEqual(warnings, ['retention skips local images this sweep']);
    // Not cached as "no checkpoint image": the next sweep asks buildah again.
    await sweeper.sweep();
    assert.equal(calls(script).filter((c) => c.startsWith('inspect')).length, 2);
  });
});

describe('retention when buildah inspect fails', () => {
  /**
   * A fake buildah over `images`: two checkpoint images of one container (the older one beyond
   * maxCheckpointsPerContainer: 1) and a third whose inspect fails with `failure` as buildah's last line of stderr.
   */
  function setup(name: string, failure: string) {
    const d = mkdtempSync(join(dir, `${name}-`));
    const checkpoint = (created: string) =>
      JSON.stringify({
        ImageAnnotations: {
          'org.criu.checkpoint.pod.namespace': 'shop',
          'org.criu.checkpoint.pod.name': 'db-0',
          'org.criu.checkpoint.container.name': 'pg',
        },
        Manifest: JSON.stringify({ config: { size: 1 }, layers: [{ size: 10 }] }),
        OCIv1: { created },
      });
    writeFileSync(
      join(d, 'list.json'),
      JSON.stringify([
        { id: 'old', names: ['localhost/checkpoint-db-0-pg:1'] },
        { id: 'new', names: ['localhost/checkpoint-db-0-pg:2'] },
        { id: 'odd', names: ['localhost/other:1'] },
      ]),
    );
    writeFileSync(join(d, 'old.json'), checkpoint('2026-12-01T00:00:00Z'));
    writeFileSync(join(d, 'new.json'), checkpoint('2026-12-02T00:00:00Z'));
    writeFileSync(join(d, 'odd.err'), `${failure}\n`);
    const script = fake(
      name,
      `case "$1" in images) cat ${d}/list.json;; ` +
        `inspect) if [ -f ${d}/$4.json ]; then cat ${d}/$4.json; else cat ${d}/$4.err >&2; exit 125; fi;; ` +
        `rmi) echo untagged;; esac`,
    );
    const warnings: { o: Record<string, unknown>; msg: string }[] = [];
    const log = {
      warn: (o: Record<string, unknown>, msg: string) => warnings.push({ o, msg }),
      info: () => undefined,
      child: () => log,
    } as unknown as Logger;
    const metrics = new AgentMetrics();
    const sweeper = new RetentionSweeper({
      node: 'n1',
      client: { get: async () => ({ items: [] }) } as unknown as RestClient,
      admitted: () => true,
      log,
      storage: { command: script, timeoutMs: 5000 },
      checkpointDir: mkdtempSync(join(dir, 'ckpt-')),
      defaults: { maxCheckpointsPerContainer: 1 },
      metrics,
      responsible: () => true,
      registryClient: () => Promise.reject(new Error('none')),
      writeStatus: () => Promise.reject(new Error('none')),
      event: () => Promise.resolve(),
    });
    const errors = async () =>
      (await metrics.registry.getSingleMetric('checkpoint_retention_errors_total')!.get()).values
        .filter((v) => v.labels.store === 'images')
        .reduce((n, v) => n + v.value, 0);
    return { script, warnings, sweeper, errors };
  }

  it("any failure but 'image not known' is logged with buildah's message, counted, not cached, and deletes nothing", async () => {
    const netavark =
      'Error: importing build settings from image "odd": could not find "netavark" in one of [/usr/libexec/podman]';
    const { script, warnings, sweeper, errors } = setup('buildah-inspect-fails', netavark);
    await sweeper.sweep();
    assert.deepEqual(
      warnings.map((w) => [w.msg, w.o.image, w.o.err]),
      [['retention skips local images this sweep', 'odd', `buildah inspect (odd) failed: ${netavark}`]],
    );
    assert.equal(await errors(), 1);
    // The local store is skipped: the older checkpoint image, beyond the limit, stays this sweep.
    assert.deepEqual(
      calls(script).filter((c) => c.startsWith('rmi')),
      [],
    );
    // Not cached as "no checkpoint image": the next sweep asks buildah again, and skips and counts again.
    await sweeper.sweep();
    assert.equal(calls(script).filter((c) => c === 'inspect --type image odd').length, 2);
    assert.equal(await errors(), 2);
  });

  it('an image buildah says is not known (removed since the listing) is passed over, and the others are judged', async () => {
    const { script, warnings, sweeper, errors } = setup(
      'buildah-inspect-unknown',
      'Error: importing settings: odd: image not known',
    );
    await sweeper.sweep();
    assert.deepEqual(warnings, []);
    assert.equal(await errors(), 0);
    assert.deepEqual(
      calls(script).filter((c) => c.startsWith('rmi')),
      ['rmi localhost/checkpoint-db-0-pg:1'],
    );
    // Not cached either: the same ID comes back if the same image is written again.
    await sweeper.sweep();
    assert.equal(calls(script).filter((c) => c === 'inspect --type image odd').length, 2);
  });
});

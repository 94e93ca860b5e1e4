import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readArchiveInfo, writeArchive } from './archive.js';

const dir = mkdtempSync(join(tmpdir(), 'archive-'));

describe('checkpoint archives', () => {
  it('writes a CRI-O archive that GNU tar lists, mode 0600, entries without ./', async () => {
    const path = join(dir, 'a.tar');
    await writeArchive(path, {
      containerName: 'app',
      podName: 'web-0',
      namespace: 'a-b',
      rootfsImageName: 'docker.io/library/nginx:1.27',
      memoryBytes: 3 * 1024 * 1024 + 17,
      mounts: [{ destination: '/data', source: '/var/lib/data' }],
    });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const listing = execFileSync('tar', ['-tvf', path], { encoding: 'utf8' });
    const names = listing
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).pop());
    assert.deepEqual(names, [
      'checkpoint/',
      'checkpoint/inventory.img',
      'checkpoint/pages-1.img',
      'config.dump',
      'spec.dump',
      'stats-dump',
      'dump.log',
      'bind.mounts',
    ]);
    assert.match(listing, new RegExp(`-rw------- .* ${3 * 1024 * 1024 + 17} .* checkpoint/pages-1.img`));
  });

  it('reads identity from spec.dump and config.dump, not from the file name', async () => {
    const path = join(dir, 'checkpoint-misleading_name-x-2026-01-01T00:00:00Z.tar');
    await writeArchive(path, {
      containerName: 'db',
      podName: 'pg-0',
      namespace: 'a',
      rootfsImageName: 'postgres:16',
      memoryBytes: 1000,
      mounts: [{ destination: '/var/lib/postgresql', source: '/pv' }],
    });
    const info = await readArchiveInfo(path);
    assert.deepEqual(
      { ...info, checkpointedTime: undefined },
      {
        containerName: 'db',
        podName: 'pg-0',
        namespace: 'a',
        rootfsImageName: 'postgres:16',
        rootfsImageRef: 'postgres:16',
        checkpointedTime: undefined,
        runtime: 'cri-o',
        mounts: ['/var/lib/postgresql'],
      },
    );
  });

  it('reads an archive GNU tar wrote (containerd flavour)', async () => {
    const src = mkdtempSync(join(dir, 'ctrd-'));
    execFileSync('sh', [
      '-c',
      `mkdir -p ${src}/checkpoint && echo x > ${src}/checkpoint/inventory.img && ` +
        `echo '{"annotations":{"io.kubernetes.cri.container-name":"c1","io.kubernetes.cri.sandbox-name":"p1","io.kubernetes.cri.sandbox-namespace":"n1"}}' > ${src}/spec.dump && ` +
        `echo '{"rootfsImageName":"busybox"}' > ${src}/config.dump`,
    ]);
    const path = join(dir, 'ctrd.tar');
    execFileSync('tar', ['-cf', path, '-C', src, 'checkpoint', 'spec.dump', 'config.dump']);
    const info = await readArchiveInfo(path);
    assert.equal(info.runtime, 'containerd');
    assert.deepEqual(
      [info.containerName, info.podName, info.namespace, info.rootfsImageName],
      ['c1', 'p1', 'n1', 'busybox'],
    );
  });

  it('refuses a tar that is not a checkpoint archive', async () => {
    const path = join(dir, 'other.tar');
    execFileSync('tar', ['-cf', path, '-C', dir, 'a.tar']);
    await assert.rejects(readArchiveInfo(path), /no spec\.dump, not a container checkpoint archive/);
  });
});

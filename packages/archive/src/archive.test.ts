import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readArchiveInfo, writeArchive } from './archive.js';
import { header, padding, trailer } from './tar.js';

const dir = mkdtempSync(join(tmpdir(), 'archive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

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
      podUid: 'uid-pg-0',
    });
    const info = await readArchiveInfo(path);
    assert.deepEqual(
      { ...info, checkpointedTime: undefined },
      {
        containerName: 'db',
        podName: 'pg-0',
        namespace: 'a',
        podUid: 'uid-pg-0',
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
        `echo '{"annotations":{"io.kubernetes.cri.container-name":"c1","io.kubernetes.cri.sandbox-name":"p1","io.kubernetes.cri.sandbox-namespace":"n1","io.kubernetes.cri.sandbox-uid":"u1"}}' > ${src}/spec.dump && ` +
        `echo '{"rootfsImageName":"busybox"}' > ${src}/config.dump`,
    ]);
    const path = join(dir, 'ctrd.tar');
    execFileSync('tar', ['-cf', path, '-C', src, 'checkpoint', 'spec.dump', 'config.dump']);
    const info = await readArchiveInfo(path);
    assert.equal(info.runtime, 'containerd');
    assert.deepEqual(
      [info.containerName, info.podName, info.namespace, info.podUid, info.rootfsImageName],
      ['c1', 'p1', 'n1', 'u1', 'busybox'],
    );
  });

  it('refuses a tar that is not a checkpoint archive', async () => {
    const path = join(dir, 'other.tar');
    execFileSync('tar', ['-cf', path, '-C', dir, 'a.tar']);
    await assert.rejects(readArchiveInfo(path), /no spec\.dump, not a container checkpoint archive/);
  });

  /** An archive whose pages entry is 64 GiB, sparse on disk: the pages header (base-256 size, or PAX), then spec.dump. */
  function hugeArchive(name: string, pax: boolean): string {
    const path = join(dir, name);
    const pages = 64 * 2 ** 30;
    const spec = Buffer.from(
      JSON.stringify({
        annotations: {
          'io.container.manager': 'cri-o',
          'io.kubernetes.cri-o.Metadata': JSON.stringify({ name: 'big' }),
          'io.kubernetes.pod.name': 'p',
          'io.kubernetes.pod.namespace': 'ns',
        },
      }),
    );
    const mtime = new Date();
    const blocks: Buffer[] = [];
    if (pax) {
      const record = `size=${pages}\n`;
      const text = Buffer.from(`${record.length + 3} ${record}`);
      const x = header({
        name: 'PaxHeaders/pages-1.img',
        type: 'file',
        size: text.length,
        mode: 0o600,
        mtime,
      });
      x.write('x', 156);
      // Recompute the checksum after changing the type flag.
      x.write('        ', 148);
      let sum = 0;
      for (const byte of x) sum += byte;
      x.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
      blocks.push(x, text, padding(text.length));
      blocks.push(header({ name: 'checkpoint/pages-1.img', type: 'file', size: 0, mode: 0o600, mtime }));
    } else {
      blocks.push(header({ name: 'checkpoint/pages-1.img', type: 'file', size: pages, mode: 0o600, mtime }));
    }
    const fd = openSync(path, 'w');
    let pos = 0;
    for (const b of blocks) pos += writeSync(fd, b, 0, b.length, pos);
    pos += pages;
    for (const b of [
      header({ name: 'spec.dump', type: 'file', size: spec.length, mode: 0o600, mtime }),
      spec,
      padding(spec.length),
      trailer(),
    ])
      pos += writeSync(fd, b, 0, b.length, pos);
    closeSync(fd);
    return path;
  }

  it('reads spec.dump behind 64 GiB of memory pages without reading them: base-256 and PAX sizes', async () => {
    for (const pax of [false, true]) {
      const info = await readArchiveInfo(hugeArchive(`huge-${pax}.tar`, pax));
      assert.deepEqual([info.namespace, info.podName, info.containerName], ['ns', 'p', 'big'], `pax ${pax}`);
    }
    if (execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar')) {
      const listed = execFileSync('tar', ['-tvf', join(dir, 'huge-false.tar')], { encoding: 'utf8' });
      assert.match(
        listed,
        /68719476736 .*checkpoint\/pages-1\.img/,
        'GNU tar reads the base-256 size we write',
      );
    }
  });

  it('refuses a file that is not a tar at all', async () => {
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'not an archive, just notes '.repeat(40));
    await assert.rejects(readArchiveInfo(path));
  });
});

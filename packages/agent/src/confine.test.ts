import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@stateful-migration/kube/testing';
import { confineArchive, confinedPath } from './confine.js';

const D = '/var/lib/kubelet/checkpoints';

describe('confinedPath: a file strictly inside the checkpoint directory, judged on the strings', () => {
  const ok: [string, string, string][] = [
    [
      'an archive the kubelet wrote',
      `${D}/checkpoint-web-0_shop-app-2026-11-27T06:35:12Z.tar`,
      `${D}/checkpoint-web-0_shop-app-2026-11-27T06:35:12Z.tar`,
    ],
    ['in a subdirectory', `${D}/sub/a.tar`, `${D}/sub/a.tar`],
    ['doubled slashes', `${D}//a.tar`, `${D}/a.tar`],
    ['a . segment', `${D}/./a.tar`, `${D}/a.tar`],
    ['a name with dots', `${D}/..a.tar`, `${D}/..a.tar`],
    ['a name that is three dots', `${D}/...`, `${D}/...`],
    ['spaces and unicode', `${D}/ä b.tar`, `${D}/ä b.tar`],
  ];
  for (const [name, p, want] of ok)
    it(`accepts ${name}`, () => assert.deepEqual(confinedPath(D, p), { ok: true, path: want }));

  it('accepts with the directory written with a trailing slash or doubled slashes', () => {
    assert.deepEqual(confinedPath(`${D}/`, `${D}/a.tar`), { ok: true, path: `${D}/a.tar` });
    assert.deepEqual(confinedPath('/var//lib/kubelet/checkpoints//', `${D}/a.tar`), {
      ok: true,
      path: `${D}/a.tar`,
    });
  });

  it('a directory of / confines to the whole tree (nothing else to say)', () =>
    assert.deepEqual(confinedPath('/', '/etc/x'), { ok: true, path: '/etc/x' }));

  const refused: [string, unknown, RegExp][] = [
    ['/etc/shadow', '/etc/shadow', /is outside the checkpoint directory \/var\/lib\/kubelet\/checkpoints$/],
    ['the parent', '/var/lib/kubelet', /outside/],
    ['a sibling sharing the prefix', `${D}-other/a.tar`, /outside/],
    ['a sibling sharing the prefix without a separator', `${D}a.tar`, /outside/],
    ['.. out of it', `${D}/../config.yaml`, /'\.\.' segment/],
    ['.. that would land back inside', `${D}/sub/../a.tar`, /'\.\.' segment/],
    ['.. at the end', `${D}/sub/..`, /'\.\.' segment/],
    ['many ..', `${D}/../../../../etc/shadow`, /'\.\.' segment/],
    ['the directory itself', D, /is the checkpoint directory \/var\/lib\/kubelet\/checkpoints itself/],
    ['the directory with a slash', `${D}/`, /itself/],
    ['the directory with a . segment', `${D}/.`, /itself/],
    ['a relative path', 'checkpoint.tar', /is not an absolute path/],
    ['a relative path into the directory', 'var/lib/kubelet/checkpoints/a.tar', /not an absolute path/],
    ['a ./ path', './a.tar', /not an absolute path/],
    ['empty', '', /is empty/],
    ['a NUL byte', `${D}/a.tar\0/etc/shadow`, /NUL byte/],
    ['a number', 42, /is not a path/],
    ['null', null, /is not a path/],
    ['undefined', undefined, /is not a path/],
    ['an object', { path: `${D}/a.tar` }, /is not a path/],
    ['a URL', `file://${D}/a.tar`, /not an absolute path/],
    ['a home-relative path', `~/a.tar`, /not an absolute path/],
  ];
  for (const [name, p, why] of refused)
    it(`refuses ${name}`, () => {
      const c = confinedPath(D, p);
      assert.equal(c.ok, false);
      assert.match((c as { why: string }).why, why);
    });

  it('refuses to judge against a relative directory', () =>
    assert.match((confinedPath('checkpoints', '/x') as { why: string }).why, /not absolute/));
});

describe('confineArchive: the same on the real paths, so symlinks cannot escape', () => {
  const base = realpathSync(tempDir('confine-'));
  const dir = join(base, 'checkpoints');
  const outside = join(base, 'outside');
  mkdirSync(dir);
  mkdirSync(outside);
  writeFileSync(join(dir, 'a.tar'), 'archive');
  writeFileSync(join(outside, 'secret'), 'secret');
  symlinkSync(join(outside, 'secret'), join(dir, 'escape.tar'));
  symlinkSync('../outside/secret', join(dir, 'relative-escape.tar'));
  symlinkSync(join(dir, 'a.tar'), join(dir, 'inside-link.tar'));
  symlinkSync(outside, join(dir, 'subdir-link'));
  symlinkSync(join(dir, 'gone'), join(dir, 'dangling.tar'));
  symlinkSync(join(dir, 'loop2'), join(dir, 'loop1'));
  symlinkSync(join(dir, 'loop1'), join(dir, 'loop2'));
  symlinkSync(dir, join(base, 'dir-link'));
  symlinkSync(base, join(dir, 'up'));
  symlinkSync(dir, join(dir, 'self'));

  it('a regular file inside: its real path', () =>
    assert.deepEqual(confineArchive(dir, join(dir, 'a.tar')), { ok: true, path: join(dir, 'a.tar') }));

  it('a symlink to a file outside: refused, naming where it resolves', () => {
    for (const link of ['escape.tar', 'relative-escape.tar']) {
      const c = confineArchive(dir, join(dir, link));
      assert.equal(c.ok, false, link);
      assert.match(
        (c as { why: string }).why,
        new RegExp(
          `resolves to ${join(outside, 'secret')}, which is outside the checkpoint directory ${dir}`,
        ),
      );
    }
  });

  it('a path through a symlinked directory that leads out: refused', () => {
    assert.equal(confineArchive(dir, join(dir, 'subdir-link', 'secret')).ok, false);
    assert.equal(confineArchive(dir, join(dir, 'up', 'outside', 'secret')).ok, false);
  });

  it('a symlink to another file inside: its target', () =>
    assert.deepEqual(confineArchive(dir, join(dir, 'inside-link.tar')), {
      ok: true,
      path: join(dir, 'a.tar'),
    }));

  it('a symlink to the directory itself: refused', () =>
    assert.match((confineArchive(dir, join(dir, 'self')) as { why: string }).why, /resolves to .*itself/));

  it('the directory given through a symlink: judged on both real paths', () => {
    const via = join(base, 'dir-link');
    assert.deepEqual(confineArchive(via, join(via, 'a.tar')), { ok: true, path: join(dir, 'a.tar') });
    assert.equal(confineArchive(via, join(via, 'escape.tar')).ok, false);
  });

  it('a missing file or a dangling link is missing (nothing to read or delete)', () => {
    assert.deepEqual(confineArchive(dir, join(dir, 'nope.tar')), {
      ok: false,
      why: 'does not exist',
      missing: true,
    });
    assert.deepEqual(confineArchive(dir, join(dir, 'dangling.tar')), {
      ok: false,
      why: 'does not exist',
      missing: true,
    });
    assert.equal(confineArchive(join(base, 'no-dir'), join(base, 'no-dir', 'a.tar')).ok, false);
  });

  it('a symlink loop: refused, not thrown', () =>
    assert.match(
      (confineArchive(dir, join(dir, 'loop1')) as { why: string }).why,
      /cannot be resolved \(ELOOP\)/,
    ));

  it('the string check comes first: a .. path is refused before anything is resolved', () => {
    const c = confineArchive(dir, `${dir}/../outside/secret`);
    assert.equal(c.ok, false);
    assert.match((c as { why: string }).why, /'\.\.' segment/);
    assert.equal((c as { missing?: true }).missing, undefined);
  });
});

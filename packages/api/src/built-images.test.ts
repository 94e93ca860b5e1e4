import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_BUILT_IMAGES_PER_CONTAINER, boundBuiltImages, withBuiltImages } from './built-images.js';
import type { BuiltImage } from './checkpoint-backup.js';

const img = (c: string, run: number): BuiltImage => ({
  containerName: c,
  imageName: `r.example/team/checkpoint-p-${c}:run-${run}`,
  digest: `sha256:${String(run).padStart(64, '0')}`,
  buildTime: new Date(Date.UTC(2026, 0, 1, 0, run)).toISOString(),
  pushed: true,
});
const runs = (c: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => img(c, from + i));
const names = (xs: BuiltImage[]) => xs.map((x) => x.imageName.split(':').pop());

describe('boundBuiltImages: the newest N per container stay in status', () => {
  it('is 100 per container by default', () => assert.equal(MAX_BUILT_IMAGES_PER_CONTAINER, 100));

  it('keeps everything within the bound, unchanged', () => {
    const xs = [...runs('app', 1, 3), ...runs('side', 1, 3)];
    assert.deepEqual(boundBuiltImages(xs, { max: 3 }), { images: xs, dropped: 0 });
    assert.deepEqual(boundBuiltImages([]), { images: [], dropped: 0 });
  });

  it('drops the oldest of each container (position: newest run last), keeping the order', () => {
    const xs = [...runs('app', 1, 5), ...runs('side', 1, 2)];
    const r = boundBuiltImages(xs, { max: 3 });
    assert.deepEqual(names(r.images), ['run-3', 'run-4', 'run-5', 'run-1', 'run-2']);
    assert.equal(r.dropped, 2);
  });

  it('counts per container, interleaved as runs of a pod append them', () => {
    const xs = [1, 2, 3, 4].flatMap((r) => [img('app', r), img('side', r)]);
    const r = boundBuiltImages(xs, { max: 2 });
    assert.deepEqual(
      r.images.map((x) => `${x.containerName}:${names([x])[0]}`),
      ['app:run-3', 'side:run-3', 'app:run-4', 'side:run-4'],
    );
    assert.equal(r.dropped, 4);
  });

  it('goes by position, not buildTime (nodes clocks differ; the agent appends in order)', () => {
    const late = { ...img('app', 1), buildTime: '2099-01-01T00:00:00Z' };
    assert.deepEqual(names(boundBuiltImages([late, img('app', 2)], { max: 1 }).images), ['run-2']);
  });

  it('never drops an image named in keep (the run in progress), even beyond the bound', () => {
    const xs = runs('app', 1, 4);
    const r = boundBuiltImages(xs, { max: 1, keep: new Set([xs[0]!.imageName]) });
    assert.deepEqual(names(r.images), ['run-1', 'run-4']);
    assert.equal(r.dropped, 2);
  });

  it('bounds a status grown without limit to 100 per container', () => {
    const r = boundBuiltImages([...runs('app', 1, 5000), ...runs('side', 1, 40)]);
    assert.equal(r.images.length, 140);
    assert.equal(r.dropped, 4900);
    assert.deepEqual(names(r.images.slice(0, 1)), ['run-4901']);
    assert.ok(JSON.stringify(r.images).length < 64 * 1024, 'a few tens of KiB, far below etcd’s 1.5 MiB');
  });
});

describe('withBuiltImages: the status fields, with a running count of what left status', () => {
  it('adds to builtImagesDropped only when something is dropped', () => {
    assert.deepEqual(withBuiltImages({}, runs('app', 1, 2), undefined, 2), {
      builtImages: runs('app', 1, 2),
    });
    assert.deepEqual(withBuiltImages({ builtImagesDropped: 7 }, runs('app', 1, 2), undefined, 2), {
      builtImages: runs('app', 1, 2),
      builtImagesDropped: 7,
    });
    assert.deepEqual(withBuiltImages({ builtImagesDropped: 7 }, runs('app', 1, 4), undefined, 2), {
      builtImages: runs('app', 3, 4),
      builtImagesDropped: 9,
    });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA } from '@stateful-migration/registry';
import { isOwnPush } from './image-steps.js';
import { storageReference } from './image.js';

describe('storageReference: where skopeo writes a local image', () => {
  it("names the node's storage as containers/image spells it", () => {
    const name = 'localhost/checkpoint-web-0-app:t';
    assert.equal(storageReference({}, name), `containers-storage:${name}`);
    assert.equal(
      storageReference({ root: '/s', runroot: '/r', driver: 'vfs' }, name),
      `containers-storage:[vfs@/s+/r]${name}`,
    );
    assert.equal(storageReference({ root: '/s' }, name), `containers-storage:[/s]${name}`);
  });
});

describe("isOwnPush: the image at a run's own tag is this archive's, pushed before a crash", () => {
  const annotations = {
    'migration.dcnlab.com/checkpointed-time': 't1',
    'org.criu.checkpoint.container.name': 'app',
  };
  const layers = [{ mediaType: MEDIA.layerTar }];
  it('one clear layer and the archive identity', () =>
    assert.equal(isOwnPush({ annotations: { ...annotations, x: 'y' }, layers }, annotations), true));
  it('anything else is pushed again', () => {
    const other = { ...annotations, 'migration.dcnlab.com/checkpointed-time': 't0' };
    assert.equal(isOwnPush({ annotations: other, layers }, annotations), false, 'another archive');
    assert.equal(isOwnPush({ annotations, layers: [...layers, ...layers] }, annotations), false);
    assert.equal(
      isOwnPush({ annotations, layers: [{ mediaType: `${MEDIA.layerTar}+encrypted` }] }, annotations),
      false,
      'encrypted',
    );
    assert.equal(isOwnPush({ layers }, annotations), false, 'no annotations');
  });
});

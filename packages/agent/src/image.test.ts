import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA } from '@stateful-migration/registry';
import { isOwnPush } from './image-steps.js';
import {
  checkpointStoreDigest,
  localImageCommand,
  resolveCheckpointStore,
  storageReference,
} from './image.js';

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

describe('localImageCommand: what writes a local image into the node storage', () => {
  const storage = { root: '/s', runroot: '/r', driver: 'vfs' };
  const name = 'localhost/checkpoint-web-0-app:t';
  it('checkpoint-store where the node has it, with the storage as flags and the layout as an argument', () =>
    assert.deepEqual(localImageCommand({ ...storage, checkpointStore: '/bin/cs' }, '/tmp/l', name), {
      command: '/bin/cs',
      args: ['--root', '/s', '--runroot', '/r', '--driver', 'vfs', 'write', '/tmp/l', 'checkpoint', name],
      tool: 'checkpoint-store write',
    }));
  it("the node's default storage without a root", () =>
    assert.deepEqual(localImageCommand({ checkpointStore: 'cs' }, '/tmp/l', name).args, [
      'write',
      '/tmp/l',
      'checkpoint',
      name,
    ]));
  it('skopeo copy --preserve-digests otherwise', () =>
    assert.deepEqual(localImageCommand(storage, '/tmp/l', name), {
      command: 'skopeo',
      args: [
        'copy',
        '--quiet',
        '--preserve-digests',
        'oci:/tmp/l:checkpoint',
        `containers-storage:[vfs@/s+/r]${name}`,
      ],
      tool: 'skopeo copy',
    }));
});

describe('checkpointStoreDigest: what the helper printed', () => {
  const d = `sha256:${'a'.repeat(64)}`;
  it('a digest, trimmed', () => assert.equal(checkpointStoreDigest(`${d}\n`), d));
  it('anything else is an error', () => {
    assert.throws(() => checkpointStoreDigest(''), /printed no image digest/);
    assert.throws(() => checkpointStoreDigest('sha256:abc'), /printed no image digest/);
    assert.throws(() => checkpointStoreDigest(`${d}\n${d}`), /printed no image digest/);
  });
});

describe('resolveCheckpointStore: where --checkpoint-store is', () => {
  const exe = new Set(['/usr/local/bin/checkpoint-store', '/opt/cs', '/b/checkpoint-store']);
  const isExe = (f: string) => exe.has(f);
  it('a bare name: the first directory of PATH that has it', () => {
    assert.equal(
      resolveCheckpointStore('checkpoint-store', '/usr/bin::/usr/local/bin:/b', isExe),
      '/usr/local/bin/checkpoint-store',
    );
    assert.equal(
      resolveCheckpointStore('checkpoint-store', '/b:/usr/local/bin', isExe),
      '/b/checkpoint-store',
    );
  });
  it('a path: as it is, if executable', () => {
    assert.equal(resolveCheckpointStore('/opt/cs', '', isExe), '/opt/cs');
    assert.equal(resolveCheckpointStore('./cs', '/opt', isExe), undefined, 'a relative path is not searched');
  });
  it('absent (skopeo writes the images then): not in PATH, no PATH, or empty', () => {
    assert.equal(resolveCheckpointStore('checkpoint-store', '/usr/bin', isExe), undefined);
    assert.equal(resolveCheckpointStore('checkpoint-store', undefined, isExe), undefined);
    assert.equal(resolveCheckpointStore('', '/usr/local/bin', isExe), undefined);
    assert.equal(resolveCheckpointStore('/usr/bin/checkpoint-store', '', isExe), undefined);
  });
});

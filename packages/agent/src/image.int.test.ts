// suite: shares — buildah on a containers-storage of its own in a temporary directory
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeArchive } from '@stateful-migration/archive';
import { tempDir } from '@stateful-migration/kube/testing';
import { buildLocalImage, checkpointAnnotations, imageName, localImageDigest, runTag } from './image.js';

// Removed when the file's tests are done (the vfs storage holds a copy of every layer).
const dir = tempDir('image-');
const storage = { root: join(dir, 'storage'), runroot: join(dir, 'run'), driver: 'vfs' };

describe('local checkpoint images with real buildah', () => {
  it('builds one image per run into containers-storage with the checkpoint annotations, and never twice', async () => {
    const archive = join(dir, 'a.tar');
    const info = { containerName: 'app', podName: 'web-0', namespace: 'shop', rootfsImageName: 'nginx:1.27' };
    await writeArchive(archive, { ...info, memoryBytes: 256 * 1024 });
    const name = imageName('web-0', 'app', runTag(new Date('2026-11-27T06:35:12.123Z')));
    assert.equal(name, 'localhost/checkpoint-web-0-app:20261127-063512-123');
    const digest = await buildLocalImage(storage, archive, name, checkpointAnnotations(info));
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const manifest = JSON.parse(
      execFileSync(
        'buildah',
        [
          '--root',
          storage.root,
          '--runroot',
          storage.runroot,
          '--storage-driver',
          'vfs',
          'inspect',
          '--type',
          'image',
          name,
        ],
        { encoding: 'utf8' },
      ),
    ) as { ImageAnnotations: Record<string, string>; OCIv1: { rootfs: { diff_ids: string[] } } };
    assert.equal(manifest.ImageAnnotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
    assert.equal(manifest.ImageAnnotations['org.criu.checkpoint.pod.namespace'], 'shop');
    assert.equal(manifest.OCIv1.rootfs.diff_ids.length, 1);
    assert.equal(
      await buildLocalImage(storage, join(dir, 'gone.tar'), name, {}),
      digest,
      'an existing image is reused, not rebuilt',
    );
    assert.equal(await localImageDigest(storage, 'localhost/nothing:here'), undefined);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MEDIA } from '@stateful-migration/registry';
import { CommandFailed, CommandTimeout } from './command.js';
import { isOwnPush } from './image-steps.js';
import {
  buildahImageFailure,
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

describe('buildahImageFailure: what a failed buildah says about the image it named', () => {
  const failed = (detail: string) => buildahImageFailure(new CommandFailed('buildah inspect (abc)', detail));
  const id = 'sha256:4fa338c0207d47930bedb250fde8c6cb3bfc3b3f9de05513e4408a47429e05a4';

  it("absent: containers/storage's 'image not known', as buildah 1.28 ends inspect and rmi of a missing image", () => {
    // Each as buildah 1.28.2 wrote its last line of stderr for an image removed before (runCommand keeps that line).
    for (const detail of [
      `Error: importing settings: ${id}: image not known`,
      `Error: importing settings: ${id.slice(7)}: image not known`,
      'Error: importing settings: localhost/checkpoint-web-0-app:20261202-183000-000: image not known',
      `* ${id}: image not known`,
      'image not known',
      `Error: importing settings: ${id}: image not known  `,
    ])
      assert.equal(failed(detail), 'absent', detail);
  });

  it('timeout: a buildah killed at its deadline', () =>
    assert.equal(buildahImageFailure(new CommandTimeout('buildah inspect (abc)', 'timed out')), 'timeout'));

  it('failed: anything else, which says nothing about the image', () => {
    for (const detail of [
      // The agent image before its containers.conf: the network backend buildah inspect sets up is missing.
      `Error: importing build settings from image "${id}": could not find "netavark" in one of [/usr/local/libexec/podman /usr/local/lib/podman /usr/libexec/podman /usr/lib/podman].  To resolve this error, set the helper_binaries_dir key in the \`[engine]\` section of containers.conf to the directory containing your helper binaries.`,
      `Error: importing build settings from image "${id}": unsupported network backend "bogus", check network_backend in containers.conf`,
      'Error: mounting new container: mounting build container: permission denied',
      'Error: creating runtime static files directory: mkdir /run/containers: read-only file system',
      'Error: image not known here, but the store is locked', // "image not known" not at the end
      'Error: identifier is not an image',
      'killed by SIGKILL',
      'exit code 125',
      '',
    ])
      assert.equal(failed(detail), 'failed', detail);
    // Not buildah's answer at all: a missing binary (runCommand's plain Error), output that is not JSON, no error.
    assert.equal(buildahImageFailure(new Error('buildah inspect: cannot run buildah (ENOENT)')), 'failed');
    assert.equal(buildahImageFailure(new Error('image not known')), 'failed');
    assert.equal(buildahImageFailure(new SyntaxError('Unexpected token')), 'failed');
    assert.equal(buildahImageFailure(undefined), 'failed');
    assert.equal(buildahImageFailure('image not known'), 'failed');
  });
});

// suite: shares — containers-storage of its own in a temporary directory
// checkpoint-store (go/checkpoint-store) against real containers-storage (vfs, as the stand-in nodes): the image it
// writes is the one skopeo writes from the same OCI layout, to the byte, and the storage gives the archive back as
// its layer; it never writes a second copy of the layer, reuses what an earlier run left, and fails clearly.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeArchive } from '@stateful-migration/archive';
import { binary, repoRoot } from '../fed/paths.js';

type Storage = { root: string; runroot: string; driver: string; checkpointStore?: string };
// The agent's local image build, from this checkout's build (e2e does not depend on the agent package).
const { buildLocalImage, checkpointAnnotations } = (await import(
  join(repoRoot, 'packages/agent/dist/image.js')
)) as {
  buildLocalImage: (
    s: Storage,
    archive: string,
    name: string,
    annotations: Record<string, string>,
    created?: Date,
  ) => Promise<string>;
  checkpointAnnotations: (i: Record<string, string>) => Record<string, string>;
};

const helper = binary('checkpoint-store');
const dir = mkdtempSync(join(tmpdir(), 'checkpoint-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const store = (name: string, withHelper: boolean): Storage => ({
  root: join(dir, name, 'storage'),
  runroot: join(dir, name, 'run'),
  driver: 'vfs',
  ...(withHelper ? { checkpointStore: helper } : {}),
});
const ref = (s: Storage, name: string) => `containers-storage:[vfs@${s.root}+${s.runroot}]${name}`;
const skopeo = (args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8' });
const sha256 = (f: string) => `sha256:${createHash('sha256').update(readFileSync(f)).digest('hex')}`;
const info = { containerName: 'app', podName: 'web-0', namespace: 'shop', rootfsImageName: 'nginx:1.27' };
const created = new Date('2026-12-02T08:00:00.000Z');
const name = 'localhost/checkpoint-web-0-app:20261202-080000-000';

describe('checkpoint-store writes local checkpoint images into containers-storage', () => {
  const archive = join(dir, 'a.tar');
  const helperStore = store('helper', true);
  const skopeoStore = store('skopeo', false);

  it('the same image as skopeo from the same layout: manifest, digest and config to the byte', async () => {
    await writeArchive(archive, { ...info, memoryBytes: 4 << 20 });
    const annotations = checkpointAnnotations({ ...info, checkpointedTime: '2026-12-02T08:00:00Z' });
    const ours = await buildLocalImage(helperStore, archive, name, annotations, created);
    const theirs = await buildLocalImage(skopeoStore, archive, name, annotations, created);
    assert.match(ours, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ours, theirs);
    for (const what of ['--raw', '--config'])
      assert.equal(
        skopeo(['inspect', what, ref(helperStore, name)]),
        skopeo(['inspect', what, ref(skopeoStore, name)]),
      );
    const inspect = JSON.parse(skopeo(['inspect', ref(helperStore, name)])) as { Digest: string };
    assert.equal(inspect.Digest, ours);
    const manifest = JSON.parse(skopeo(['inspect', '--raw', ref(helperStore, name)])) as {
      annotations: Record<string, string>;
      layers: { digest: string; mediaType: string }[];
    };
    assert.equal(manifest.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
    assert.equal(manifest.annotations['org.criu.checkpoint.pod.namespace'], 'shop');
    assert.deepEqual(
      manifest.layers.map((l) => [l.mediaType, l.digest]),
      [['application/vnd.oci.image.layer.v1.tar', sha256(archive)]],
    );
  });

  it('one layer, under the ID containers/image gives it, whose export is the archive itself', () => {
    const layers = JSON.parse(readFileSync(join(helperStore.root, 'vfs-layers', 'layers.json'), 'utf8')) as {
      id: string;
      'diff-digest': string;
      'compressed-diff-digest': string;
    }[];
    const d = sha256(archive);
    assert.deepEqual(
      layers.map((l) => [l.id, l['diff-digest'], l['compressed-diff-digest']]),
      [[d.slice('sha256:'.length), d, d]],
    );
    // What the runtime reads back from the store (tar-split reassembles the layer bit for bit).
    const out = join(dir, 'export');
    skopeo(['copy', '--quiet', '--preserve-digests', ref(helperStore, name), `oci:${out}:x`]);
    assert.equal(sha256(join(out, 'blobs', 'sha256', d.slice('sha256:'.length))), d);
    assert.deepEqual(
      readdirSync(join(helperStore.root, 'vfs', 'dir', d.slice('sha256:'.length))).sort(),
      [
        ...new Set(
          execFileSync('tar', ['-tf', archive], { encoding: 'utf8' })
            .split('\n')
            .filter(Boolean)
            .map((f) => f.split('/')[0]!),
        ),
      ].sort(),
    );
  });

  it('an image already there is not written again: its digest, without reading the archive', async () => {
    const again = await buildLocalImage(helperStore, join(dir, 'gone.tar'), name, {}, created);
    assert.equal(again, JSON.parse(skopeo(['inspect', ref(helperStore, name)])).Digest);
  });

  it('a run that dies between the layer and the image: a clear error, then the next run reuses the layer', () => {
    const s = store('interrupted', true);
    const layout = join(dir, 'layout');
    skopeo(['copy', '--quiet', '--preserve-digests', ref(helperStore, name), `oci:${layout}:checkpoint`]);
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `oci:${layout}:checkpoint`])) as {
      config: { digest: string };
    };
    const configBlob = join(layout, 'blobs', 'sha256', manifest.config.digest.slice('sha256:'.length));
    const config = readFileSync(configBlob);
    rmSync(configBlob);
    const write = () =>
      spawnSync(
        helper,
        ['--root', s.root, '--runroot', s.runroot, '--driver', 'vfs', 'write', layout, 'checkpoint', name],
        { encoding: 'utf8' },
      );
    const failed = write();
    assert.equal(failed.status, 1);
    assert.match(
      failed.stderr,
      /^checkpoint-store: writing the image localhost\/checkpoint-web-0-app:\S+: .+\n$/,
    );
    const layers = () =>
      (JSON.parse(readFileSync(join(s.root, 'vfs-layers', 'layers.json'), 'utf8')) as { id: string }[]).map(
        (l) => l.id,
      );
    const d = sha256(archive).slice('sha256:'.length);
    assert.deepEqual(layers(), [d], 'the layer stays');
    writeFileSync(configBlob, config);
    const ok = write();
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), JSON.parse(skopeo(['inspect', ref(helperStore, name)])).Digest);
    assert.deepEqual(layers(), [d], 'reused, not a second copy');
  });

  it('refuses a layout that is not a checkpoint image (two layers), naming why', () => {
    const s = store('refused', true);
    const layout = join(dir, 'layout');
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const mPath = join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice('sha256:'.length));
    const m = JSON.parse(readFileSync(mPath, 'utf8')) as { layers: unknown[] };
    writeFileSync(mPath, JSON.stringify({ ...m, layers: [...m.layers, ...m.layers] }));
    const r = spawnSync(
      helper,
      ['--root', s.root, '--runroot', s.runroot, '--driver', 'vfs', 'write', layout, 'checkpoint', name],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'checkpoint-store: a checkpoint image has one layer, this one 2\n');
    const usage = spawnSync(helper, ['write', layout], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /^usage: checkpoint-store /);
  });
});

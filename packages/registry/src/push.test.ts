import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RegistryClient, RegistryError } from './client.js';
import { answer, loopback, tempDir, type Loopback } from './loopback.test-support.js';
import { pushImage } from './push.js';

/** A registry in memory: blobs by digest (HEAD answers their size), one upload session per POST. */
async function memoryRegistry(): Promise<Loopback & { blobs: Map<string, Buffer> }> {
  const blobs = new Map<string, Buffer>();
  const parts = new Map<string, Buffer>();
  let n = 0;
  const reg = await loopback((s, res) => {
    const url = new URL(s.url, 'http://x');
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]+)$/.exec(url.pathname);
    if (s.method === 'GET' && url.pathname === '/v2/') return answer(res, 200);
    if (s.method === 'HEAD' && blob) {
      const b = blobs.get(blob[1]!);
      res.writeHead(b ? 200 : 404, { 'Content-Length': b ? b.length : 0 });
      return res.end();
    }
    if (s.method === 'POST') return answer(res, 202, { Location: `/v2/r/blobs/uploads/${++n}` });
    const upload = /\/blobs\/uploads\/(\d+)$/.exec(url.pathname);
    if (s.method === 'PATCH' && upload) {
      parts.set(upload[1]!, s.body);
      return answer(res, 202, { Location: url.pathname });
    }
    if (s.method === 'PUT' && upload) {
      const body = s.body.length ? s.body : (parts.get(upload[1]!) ?? Buffer.alloc(0));
      blobs.set(url.searchParams.get('digest')!, body);
      return answer(res, 201);
    }
    if (s.method === 'PUT') return answer(res, 201);
    answer(res, 404);
  });
  return Object.assign(reg, { blobs });
}

describe('pushImage: a blob the registry has is not uploaded again', () => {
  const regs: Loopback[] = [];
  after(async () => {
    for (const r of regs) await r.close();
  });

  it('reads the layer once (hash and upload in one pass); a push that knows its digest asks first (HEAD), a first push does not', async () => {
    const reg = await memoryRegistry();
    regs.push(reg);
    const file = join(tempDir('push-'), 'a.tar');
    const bytes = Buffer.alloc(3 << 20, 7);
    writeFileSync(file, bytes);
    const client = new RegistryClient({ host: reg.host, insecureHttp: true });
    const input = { repository: 'r', tag: 't', layerTar: file, annotations: {}, created: new Date(0) };
    let stored = '';
    const first = await pushImage(client, { ...input, onLayerStored: (d) => (stored = d) });
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    assert.equal(first.layerDigest, digest);
    assert.equal(stored, digest, 'told once the blob is stored');
    assert.deepEqual(reg.blobs.get(digest), bytes);
    const patches = () => reg.seen.filter((s) => s.method === 'PATCH').length;
    const heads = () => reg.seen.filter((s) => s.method === 'HEAD').length;
    assert.equal(patches(), 1);
    assert.equal(heads(), 0, 'a first push asks for nothing: its layer is unknown, and so its config new');
    assert.ok(reg.blobs.has(first.layerDigest) && reg.blobs.size === 2, 'the layer and the config stored');

    reg.seen.length = 0;
    const again = await pushImage(client, { ...input, knownLayerDigest: digest });
    assert.equal(again.digest, first.digest, 'the same image');
    assert.equal(patches(), 0, 'the layer is not uploaded again');
    assert.equal(
      reg.seen.filter((s) => s.method === 'POST').length,
      0,
      'nor the config, which the registry has too',
    );
    assert.equal(heads(), 2, 'the layer and the config, asked for');
  });
});

describe('pushImage: the layer upload declares its length', () => {
  const regs: Loopback[] = [];
  after(async () => {
    for (const r of regs) await r.close();
  });
  const setup = async () => {
    const reg = await memoryRegistry();
    regs.push(reg);
    const file = join(tempDir('push-'), 'a.tar');
    // Larger than one read (4 MiB), so the file can change between two reads of the same push.
    writeFileSync(file, Buffer.alloc(9 << 20, 3));
    const client = new RegistryClient({ host: reg.host, insecureHttp: true });
    return { reg, file, client, input: { repository: 'r', tag: 't', annotations: {}, created: new Date(0) } };
  };

  it('sends the archive with a Content-Length, not in chunks', async () => {
    const { reg, file, client, input } = await setup();
    await pushImage(client, { ...input, layerTar: file });
    const patch = reg.seen.find((s) => s.method === 'PATCH')!;
    assert.equal(patch.headers['content-length'], String(9 << 20));
    assert.equal(patch.headers['transfer-encoding'], undefined);
    assert.equal(patch.body.length, 9 << 20);
  });

  for (const [what, change] of [
    ['grows', (f: string) => appendFileSync(f, Buffer.alloc(1 << 20, 4))],
    ['shrinks', (f: string) => truncateSync(f, 5 << 20)],
  ] as const) {
    it(`fails with LAYER_CHANGED, and stores no layer, when the archive ${what} during the push`, async () => {
      const { reg, file, client, input } = await setup();
      let once = false;
      const onProgress = () => {
        if (!once) change(file);
        once = true;
      };
      await assert.rejects(
        pushImage(client, { ...input, layerTar: file, onProgress }),
        (e: unknown) => e instanceof RegistryError && e.code === 'LAYER_CHANGED',
      );
      assert.equal(reg.blobs.size, 0, 'no blob committed');
      assert.equal(reg.seen.filter((s) => s.method === 'PUT').length, 0, 'no commit, no manifest');
    });
  }
});

// suite: shares — its own repositories in the federation's registry (test/push, test/manage-<time>)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RegistryClient, RegistryError } from './client.js';
import { deleteManifest, describeTag, listTags } from './manage.js';
import { getManifest, MEDIA, pushImage } from './push.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const info = JSON.parse(
  readFileSync(join(process.env.FED_DIR ?? join(root, '.fed'), 'registry.json'), 'utf8'),
) as {
  url: string;
  certDir: string;
  caFile: string;
  users: { username: string; password: string }[];
};
const ca = readFileSync(info.caFile);
// registry does not depend on kube (its tempDir): removed here once the file's tests are done, auth files included.
const tmp = mkdtempSync(join(tmpdir(), 'push-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** skopeo, the containers/image tool CRI-O pulls with, reading credentials from an auth file (never argv). */
function skopeo(args: string[], user = info.users[0]!): string {
  const auth = join(tmp, `auth-${user.username}.json`);
  const b64 = Buffer.from(`${user.username}:${user.password}`).toString('base64');
  writeFileSync(auth, JSON.stringify({ auths: { [info.url]: { auth: b64 } } }), { mode: 0o600 });
  return execFileSync(
    'skopeo',
    [...args.slice(0, 1), '--authfile', auth, '--cert-dir', info.certDir, ...args.slice(1)],
    {
      encoding: 'utf8',
    },
  );
}

function makeTar(name: string, bytes: number): string {
  const dir = mkdtempSync(join(tmp, 'src-'));
  execFileSync('sh', [
    '-c',
    `mkdir ${dir}/checkpoint && head -c ${bytes} /dev/urandom > ${dir}/checkpoint/pages-1.img && echo '{}' > ${dir}/spec.dump`,
  ]);
  const path = join(tmp, name);
  execFileSync('tar', ['-cf', path, '-C', dir, 'checkpoint', 'spec.dump']);
  return path;
}

const client = (user = info.users[0]!) => new RegistryClient({ host: info.url, credentials: user, ca });

describe('pushImage against the real registry', () => {
  it('pushes a one-layer image whose layer is the archive itself, with its annotations; skopeo reads it', async () => {
    const tar = makeTar('a.tar', 3 * 1024 * 1024);
    const annotations = {
      'io.kubernetes.cri-o.annotations.checkpoint.name': 'app',
      'org.criu.checkpoint.container.name': 'app',
    };
    const created = new Date();
    const pushed = await pushImage(client(), {
      repository: 'test/push',
      tag: 'run-1',
      layerTar: tar,
      annotations,
      created,
    });
    const fileDigest = `sha256:${createHash('sha256').update(readFileSync(tar)).digest('hex')}`;
    assert.equal(pushed.layerDigest, fileDigest);
    const raw = JSON.parse(skopeo(['inspect', '--raw', `docker://${info.url}/test/push:run-1`])) as {
      mediaType: string;
      layers: { mediaType: string; digest: string }[];
      annotations: Record<string, string>;
    };
    assert.equal(raw.mediaType, MEDIA.manifest);
    assert.deepEqual(
      raw.layers.map((l) => [l.mediaType, l.digest]),
      [[MEDIA.layerTar, fileDigest]],
    );
    assert.deepEqual(raw.annotations, {
      ...annotations,
      'org.opencontainers.image.created': created.toISOString(),
    });
    const inspect = JSON.parse(skopeo(['inspect', `docker://${info.url}/test/push:run-1`])) as {
      Digest: string;
    };
    assert.equal(inspect.Digest, pushed.digest, 'the digest we record is the one clients resolve');
    const got = await getManifest(client(), 'test/push', 'run-1');
    assert.equal(got?.digest, pushed.digest);
  });

  it('refuses a wrong password with a 401 that does not contain it', async () => {
    const tar = makeTar('b.tar', 1024);
    const wrong = { username: info.users[0]!.username, password: 'not-the-password-s3cr3t' };
    await assert.rejects(
      pushImage(client(wrong), {
        repository: 'test/push',
        tag: 'x',
        layerTar: tar,
        annotations: {},
        created: new Date(),
      }),
      (e: unknown) => e instanceof RegistryError && e.statusCode === 401 && !e.message.includes('s3cr3t'),
    );
  });

  it('says the registry is unreachable when nothing listens', async () => {
    const tar = makeTar('c.tar', 1024);
    const down = new RegistryClient({ host: '127.0.0.1:9', credentials: info.users[0]!, ca });
    await assert.rejects(
      pushImage(down, {
        repository: 'test/push',
        tag: 'x',
        layerTar: tar,
        annotations: {},
        created: new Date(),
      }),
      /registry 127\.0\.0\.1:9 unreachable: ECONNREFUSED/,
    );
  });

  it('answers undefined for a manifest the registry does not have', async () => {
    assert.equal(await getManifest(client(), 'test/push', 'no-such-tag'), undefined);
  });
});

describe('tags, descriptions and deletes by digest against the real registry (deletes enabled)', () => {
  it('lists tags, describes them, deletes one by digest; skopeo sees it gone; a second delete is not an error', async () => {
    const repo = `test/manage-${Date.now()}`;
    const pushed = [];
    for (const [i, tag] of ['one', 'two'].entries()) {
      pushed.push(
        await pushImage(client(), {
          repository: repo,
          tag,
          layerTar: makeTar(`m${i}.tar`, 2048 + i),
          annotations: { 'org.criu.checkpoint.pod.name': 'p' },
          created: new Date(Date.UTC(2026, 0, 1, 0, i)),
        }),
      );
    }
    assert.deepEqual((await listTags(client(), repo)).sort(), ['one', 'two']);
    const two = await describeTag(client(), repo, 'two');
    assert.equal(two?.digest, pushed[1]!.digest);
    assert.equal(two?.created, Date.UTC(2026, 0, 1, 0, 1));
    assert.equal(two?.annotations['org.criu.checkpoint.pod.name'], 'p');
    assert.ok((two?.size ?? 0) > 2048);
    assert.equal(await deleteManifest(client(), repo, pushed[0]!.digest), true);
    assert.deepEqual(await listTags(client(), repo), ['two']);
    assert.deepEqual(
      (JSON.parse(skopeo(['list-tags', `docker://${info.url}/${repo}`])) as { Tags: string[] }).Tags,
      ['two'],
    );
    assert.equal(await deleteManifest(client(), repo, pushed[0]!.digest), false);
    assert.equal(await describeTag(client(), repo, 'one'), undefined);
    assert.deepEqual(await listTags(client(), 'test/no-such-repo'), []);
  });
});

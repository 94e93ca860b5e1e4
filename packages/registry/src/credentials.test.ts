import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RegistryClient, RegistryError } from './client.js';
import { listTags } from './manage.js';
import { getManifest, pushImage } from './push.js';
import {
  answer,
  everything,
  loopback,
  loopbackCert,
  tempDir,
  type Loopback,
  type Seen,
} from './loopback.test-support.js';

// A fake registry on 127.0.0.1 and capture servers on other ports (another host:port is another host): the capture
// servers record every header they receive, so the tests can show the password and the tokens never reach them.
const creds = { username: 'agent', password: 'pw-s3cr3t-0xC0FFEE' };
const basic = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
const TOKEN = 'registry-token-f00d';
const tls = loopbackCert();
const tmp = tempDir('registry-creds-');

const servers: Loopback[] = [];
async function server(
  handler: (s: Seen, res: Parameters<Parameters<typeof loopback>[0]>[1]) => void,
  https = true,
) {
  const s = await loopback(handler, https ? tls : undefined);
  servers.push(s);
  return s;
}
after(() => Promise.all(servers.map((s) => s.close())));

/** A capture server: answers 200 with a token to anything, and records what it got. */
const capture = (https = true) =>
  server(
    (_s, res) => answer(res, 200, { 'Content-Type': 'application/json' }, { token: 'capture-token' }),
    https,
  );

/** Asserts a capture server never saw the password, the Basic header or the registry's token. */
function sawNoCredentials(c: Loopback): void {
  const all = everything(c.seen);
  assert.ok(!all.includes(creds.password), 'the password reached another host');
  assert.ok(!all.includes(basic.slice(6)), 'the Basic credentials reached another host');
  assert.ok(!all.includes(TOKEN), "the registry's token reached another host");
  assert.ok(
    c.seen.every((s) => s.headers.authorization === undefined),
    'an Authorization header reached another host',
  );
}

/** A registry that sends every unauthenticated request to a Bearer realm, and serves /v2/ to its token. */
const bearerRegistry = (realm: () => string) =>
  server((s, res) => {
    if (s.url.startsWith('/token')) {
      return s.headers.authorization === basic ? answer(res, 200, {}, { token: TOKEN }) : answer(res, 401);
    }
    if (s.headers.authorization !== `Bearer ${TOKEN}`)
      return answer(res, 401, { 'WWW-Authenticate': `Bearer realm="${realm()}",service="fake"` });
    answer(res, 200, {}, {});
  });

const client = (host: string, extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
  new RegistryClient({ host, credentials: creds, ca: tls.cert, ...extra });

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.ok(!e.message.includes(creds.password));
  return true;
};

describe('the token realm: credentials go only to the registry itself (or a host the platform trusts), over https', () => {
  it('a realm on another host:port gets nothing: refused, naming the realm and why', async () => {
    const other = await capture();
    const reg = await bearerRegistry(() => `${other.origin}/token`);
    await assert.rejects(
      client(reg.host).login('shop/app'),
      refused(
        new RegExp(`token realm ${other.origin}/token\\b.*another host than the registry \\(${reg.host}\\)`),
      ),
    );
    assert.equal(other.seen.length, 0, 'the realm was never contacted');
    sawNoCredentials(other);
  });

  it('a realm over plain http gets nothing: refused, naming the realm and why', async () => {
    const other = await capture(false);
    const reg = await bearerRegistry(() => `${other.origin}/token`);
    await assert.rejects(
      client(reg.host).login('shop/app'),
      refused(new RegExp(`token realm ${other.origin}/token\\b.*plain http`)),
    );
    assert.equal(other.seen.length, 0);
  });

  it("a plain-http realm on the https registry's own host:port is refused too (a downgrade)", async () => {
    let host = '';
    const reg = await bearerRegistry(() => `http://${host}/token`);
    host = reg.host;
    await assert.rejects(client(reg.host).login('shop/app'), refused(/plain http/));
    assert.ok(reg.seen.every((s) => s.headers.authorization === undefined));
  });

  it("a realm on the registry's own origin gets the credentials, once, and the token works", async () => {
    let origin = '';
    const reg = await bearerRegistry(() => `${origin}/token`);
    origin = reg.origin;
    await client(reg.host).login('shop/app');
    const token = reg.seen.find((s) => s.url.startsWith('/token'))!;
    assert.equal(token.headers.authorization, basic);
    assert.match(token.url, /scope=repository%3Ashop%2Fapp%3Apull%2Cpush/);
    assert.equal(reg.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
  });

  it('a realm on a host the platform named in tokenHosts gets the credentials (Docker Hub, GitLab)', async () => {
    const auth = await server((s, res) =>
      s.headers.authorization === basic ? answer(res, 200, {}, { token: TOKEN }) : answer(res, 401),
    );
    const reg = await bearerRegistry(() => `${auth.origin}/token`);
    await client(reg.host, { tokenHosts: [auth.host] }).login('shop/app');
    assert.equal(auth.seen[0]!.headers.authorization, basic);
    assert.equal(reg.seen.at(-1)!.headers.authorization, `Bearer ${TOKEN}`);
  });

  it('a same-origin realm that redirects elsewhere: the redirect gets no credentials', async () => {
    const other = await capture();
    let origin = '';
    const reg = await server((s, res) => {
      if (s.url.startsWith('/token')) return answer(res, 302, { Location: `${other.origin}/token?x=1` });
      if (s.headers.authorization === 'Bearer capture-token') return answer(res, 200, {}, {});
      answer(res, 401, { 'WWW-Authenticate': `Bearer realm="${origin}/token"` });
    });
    origin = reg.origin;
    await client(reg.host).login('shop/app');
    assert.equal(other.seen.length, 1);
    sawNoCredentials(other);
  });
});

/** A Basic-auth registry whose uploads go where `uploadTo` says; records manifests. */
const basicRegistry = (uploadTo: () => string) =>
  server((s, res) => {
    if (s.headers.authorization !== basic)
      return answer(res, 401, { 'WWW-Authenticate': 'Basic realm="fake"' });
    if (s.method === 'POST' && s.url.endsWith('/blobs/uploads/'))
      return answer(res, 202, { Location: uploadTo(), 'Docker-Upload-UUID': 'u1' });
    if (s.method === 'PATCH')
      return answer(res, 202, { Location: s.url.split('?')[0]! + '?_state=after-patch' });
    if (s.method === 'PUT') return answer(res, 201);
    answer(res, 404);
  });

/** An upload service on another host: PATCH answers with a relative Location, which is relative to it. */
const uploadService = (https = true) =>
  server((s, res) => {
    if (s.method === 'PATCH') return answer(res, 202, { Location: '/upload/1?_state=after-patch' });
    if (s.method === 'PUT') return answer(res, 201);
    answer(res, 404);
  }, https);

const layer = (name: string) => {
  const p = join(tmp, name);
  writeFileSync(p, Buffer.alloc(4096, 7));
  return p;
};
const push = (c: RegistryClient, file: string) =>
  pushImage(c, { repository: 'shop/app', tag: 't1', layerTar: file, annotations: {}, created: new Date(0) });

describe('upload Locations: another host gets the bytes the registry sent there, never the credentials', () => {
  it('an https Location on another host: PATCH and PUT go there without Authorization; the commit is there too', async () => {
    const up = await uploadService();
    const reg = await basicRegistry(() => `${up.origin}/upload/1?_state=start`);
    const file = layer('a.tar');
    await push(client(reg.host), file);
    assert.deepEqual(
      up.seen.map((s) => `${s.method} ${s.url.split('?')[0]}`),
      ['PATCH /upload/1', 'PUT /upload/1', 'PUT /upload/1'],
      'layer PATCH and commit, then the config PUT, all at the upload service (a relative Location is relative to it)',
    );
    assert.equal(up.seen[0]!.body.length, 4096);
    sawNoCredentials(up);
    assert.ok(
      reg.seen.some(
        (s) =>
          s.method === 'PUT' && s.url === '/v2/shop/app/manifests/t1' && s.headers.authorization === basic,
      ),
      'the manifest went to the registry, with the credentials',
    );
  });

  it('a plain-http Location from an https registry is refused: no bytes, no credentials', async () => {
    const up = await uploadService(false);
    const reg = await basicRegistry(() => `${up.origin}/upload/1`);
    await assert.rejects(
      push(client(reg.host), layer('b.tar')),
      refused(new RegExp(`registry ${reg.host} sent the upload to ${up.origin}/upload/1\\b.*plain http`)),
    );
    assert.equal(up.seen.length, 0);
  });

  it('another host that asks for credentials gets none, and the error says where they go', async () => {
    const up = await server((_s, res) => answer(res, 401, { 'WWW-Authenticate': 'Basic realm="x"' }));
    const reg = await basicRegistry(() => `${up.origin}/upload/1`);
    await assert.rejects(
      push(client(reg.host), layer('d.tar')),
      refused(new RegExp(`${up.origin}/upload/1 asked for credentials, which go only to ${reg.origin}`)),
    );
    sawNoCredentials(up);
  });

  it('a Location missing from the answer is an error naming the registry', async () => {
    const reg = await basicRegistry(() => '');
    await assert.rejects(
      push(client(reg.host), layer('c.tar')),
      refused(/did not say where the upload goes/),
    );
  });
});

describe('redirects and pagination links: followed without credentials when they leave the registry', () => {
  it('a manifest GET redirected to another host is fetched there without Authorization', async () => {
    const cdn = await server((_s, res) =>
      answer(res, 200, { 'Docker-Content-Digest': 'sha256:abc' }, { schemaVersion: 2, layers: [] }),
    );
    const reg = await server((s, res) => {
      if (s.headers.authorization !== basic)
        return answer(res, 401, { 'WWW-Authenticate': 'Basic realm="x"' });
      answer(res, 307, { Location: `${cdn.origin}/blob/abc` });
    });
    const m = await getManifest(client(reg.host), 'shop/app', 't1');
    assert.equal(m?.digest, 'sha256:abc');
    assert.equal(cdn.seen.length, 1);
    sawNoCredentials(cdn);
  });

  it('a redirect back to the registry keeps the credentials; a redirect to plain http is refused', async () => {
    let origin = '';
    const plain = await capture(false);
    const reg = await server((s, res) => {
      if (s.headers.authorization !== basic)
        return answer(res, 401, { 'WWW-Authenticate': 'Basic realm="x"' });
      if (s.url.includes('/manifests/here'))
        return answer(res, 308, { Location: `${origin}/v2/shop/app/manifests/moved` });
      if (s.url.includes('/manifests/moved'))
        return answer(res, 200, { 'Docker-Content-Digest': 'sha256:def' }, {});
      answer(res, 302, { Location: `${plain.origin}/x` });
    });
    origin = reg.origin;
    assert.equal((await getManifest(client(reg.host), 'shop/app', 'here'))?.digest, 'sha256:def');
    await assert.rejects(getManifest(client(reg.host), 'shop/app', 'elsewhere'), refused(/plain http/));
    assert.equal(plain.seen.length, 0);
  });

  it('a tags Link to another host is followed without Authorization', async () => {
    const other = await server((_s, res) => answer(res, 200, {}, { tags: ['b'] }));
    const reg = await server((s, res) => {
      if (s.headers.authorization !== basic)
        return answer(res, 401, { 'WWW-Authenticate': 'Basic realm="x"' });
      answer(
        res,
        200,
        { Link: `<${other.origin}/v2/shop/app/tags/list?last=a>; rel="next"` },
        { tags: ['a'] },
      );
    });
    assert.deepEqual(await listTags(client(reg.host), 'shop/app'), ['a', 'b']);
    sawNoCredentials(other);
  });
});

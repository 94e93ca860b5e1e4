import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { keyFingerprint } from './keys.js';
import { DecryptionKeysDirError, readDecryptionKeysDir } from './keys-dir.js';

const root = mkdtempSync(join(tmpdir(), 'keys-dir-'));
after(() => rmSync(root, { recursive: true, force: true }));

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: typeof ec) => k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe("readDecryptionKeysDir: a runtime's decryption keys directory, as CRI-O walks it", () => {
  it('a directory that does not exist holds no keys (CRI-O skips it)', async () => {
    assert.deepEqual(await readDecryptionKeysDir(join(root, 'absent')), {
      files: [],
      fingerprints: [],
      unusable: [],
    });
  });

  it('every regular file at any depth is a key; the fingerprints are of the public halves, sorted', async () => {
    const dir = join(root, 'keys');
    mkdirSync(join(dir, 'team-a'), { recursive: true });
    writeFileSync(join(dir, 'ec.pem'), pem(ec), { mode: 0o600 });
    writeFileSync(join(dir, 'team-a', 'rsa.pem'), pem(rsa), { mode: 0o600 });
    writeFileSync(join(dir, 'README'), 'not a key');
    const r = await readDecryptionKeysDir(dir);
    assert.deepEqual(r.files, [join(dir, 'README'), join(dir, 'ec.pem'), join(dir, 'team-a', 'rsa.pem')]);
    assert.deepEqual(r.fingerprints, [keyFingerprint(ec.publicKey), keyFingerprint(rsa.publicKey)].sort());
    assert.deepEqual(r.unusable, [{ file: join(dir, 'README'), why: 'not an unencrypted PEM private key' }]);
  });

  it('a symbolic link refuses the directory, as CRI-O does', async () => {
    const dir = join(root, 'linked');
    mkdirSync(dir);
    writeFileSync(join(root, 'outside.pem'), pem(ec));
    symlinkSync(join(root, 'outside.pem'), join(dir, 'k.pem'));
    await assert.rejects(readDecryptionKeysDir(dir), DecryptionKeysDirError);
  });
});

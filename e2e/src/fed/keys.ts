import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fedDir } from './paths.js';

/**
 * The federation's decryption keys (issue 14). `fed up` makes one key pair per name under .fed/keys (kept across
 * ups: images encrypted for it stay readable) and plays the platform that provisions nodes: it places the private
 * key in the runtime's decryption keys directory of the nodes listed here, as CRI-O's decryption_keys_path
 * (/etc/crio/keys) under each node's root, 0600 in 0700. m1-b holds none, so tests show both a node that can open an
 * encrypted checkpoint and one that cannot; all of member2 holds the e2e key.
 */
export const nodeDecryptionKeys: Record<string, string[]> = {
  'm1-a': ['e2e'],
  'm2-a': ['e2e'],
  'm2-b': ['e2e'],
};

/** The files of a federation key pair: the private key (PKCS#8 PEM) and its public key (SPKI PEM). */
export const fedKey = (name: string): { privateKey: string; publicKey: string } => ({
  privateKey: join(fedDir, 'keys', `${name}.pem`),
  publicKey: join(fedDir, 'keys', `${name}.pub.pem`),
});

/** A node's decryption keys directory: CRI-O's /etc/crio/keys under the node's root. */
export const nodeKeysDir = (node: string): string => join(fedDir, 'nodes', node, 'etc', 'crio', 'keys');

/** Makes the key pair `name` once (EC P-256: what ocicrypt's JWE wraps with ECDH-ES+A256KW). */
export function ensureFedKey(name: string): { privateKey: string; publicKey: string } {
  const files = fedKey(name);
  if (existsSync(files.privateKey) && existsSync(files.publicKey)) return files;
  mkdirSync(join(fedDir, 'keys'), { recursive: true, mode: 0o700 });
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(files.privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(files.publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return files;
}

/** Gives a node exactly its listed keys (a key no longer listed is removed), 0600 files in a 0700 directory. */
export function installNodeKeys(node: string): void {
  const dir = nodeKeysDir(node);
  const want = nodeDecryptionKeys[node] ?? [];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const f of readdirSync(dir))
    if (!want.some((k) => `${k}.pem` === f)) rmSync(join(dir, f), { recursive: true, force: true });
  for (const k of want) {
    const { privateKey } = ensureFedKey(k);
    writeFileSync(join(dir, `${k}.pem`), readFileSync(privateKey), { mode: 0o600 });
  }
}

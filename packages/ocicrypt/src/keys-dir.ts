import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyFingerprint, parsePrivateKey } from './keys.js';

/**
 * A runtime's decryption keys directory as CRI-O reads it (`[crio.image] decryption_keys_path`, default
 * /etc/crio/keys; CRI-O's getDecryptionKeys): every regular file under it, at any depth, is one private key, tried
 * in turn on each encrypted layer; a symbolic link anywhere makes CRI-O refuse the whole directory ("Symbolic links
 * not supported in decryption keys paths"); a directory that does not exist means no keys, not an error.
 */
export interface DecryptionKeysDir {
  /** The key files, sorted, as CRI-O hands them to ocicrypt (and skopeo takes them: one --decryption-key each). */
  files: string[];
  /** sha256:<hex> of each readable key's public half (keyFingerprint): what may be published about the node's keys. */
  fingerprints: string[];
  /** Files that are not a private key ocicrypt's JWE can use, and why (never their contents). */
  unusable: { file: string; why: string }[];
}

export class DecryptionKeysDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecryptionKeysDirError';
  }
}

/** The key files under `dir`, walked as CRI-O walks it; throws DecryptionKeysDirError on a symbolic link. */
export async function decryptionKeyFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let st;
    try {
      st = await lstat(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && d === dir) return;
      throw err;
    }
    if (st.isSymbolicLink())
      throw new DecryptionKeysDirError(
        `${d} is a symbolic link: CRI-O refuses symbolic links in its decryption keys path`,
      );
    if (st.isDirectory()) {
      for (const e of (await readdir(d)).sort()) await walk(join(d, e));
    } else if (st.isFile()) out.push(d);
  };
  await walk(dir);
  return out;
}

/**
 * Reads the keys directory: the files, and the fingerprint of each one that holds an RSA or EC private key. The
 * private keys are parsed in memory only to derive their public halves and are not kept.
 */
export async function readDecryptionKeysDir(dir: string): Promise<DecryptionKeysDir> {
  const files = await decryptionKeyFiles(dir);
  const fingerprints = new Set<string>();
  const unusable: DecryptionKeysDir['unusable'] = [];
  for (const file of files) {
    try {
      fingerprints.add(keyFingerprint(parsePrivateKey(await readFile(file))));
    } catch (err) {
      unusable.push({ file, why: err instanceof Error ? err.message : String(err) });
    }
  }
  return { files, fingerprints: [...fingerprints].sort(), unusable };
}

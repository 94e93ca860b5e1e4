import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Pki } from './certs.js';

/** GET url; true on a 2xx answer. With pki, speaks TLS with the admin client certificate. */
export function probe(url: string, pki?: Pki, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = pki
      ? { ca: readFileSync(pki.ca), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) }
      : {};
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { ...opts, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

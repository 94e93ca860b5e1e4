/**
 * One HTTP or TCP probe from inside a pod's network namespace (`nsenter --net=/proc/<pid>/ns/net node
 * netns-probe.js ...`, run by probes.ts): the kubelet probes the pod's IP from the node, and until pods have
 * addresses the node can reach (pod networking, ADR 0011), the pod's own loopback is where its servers listen. Prints
 * one JSON line: {status} or {error} for http, {answer} for tcp.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

const [mode, port, path, timeout, scheme] = process.argv.slice(2);
const timeoutMs = Number(timeout);
const why = (err: NodeJS.ErrnoException): string =>
  err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' ? 'reset' : err.message;

if (mode === 'http') {
  const get = scheme === 'HTTPS' ? https.get : http.get;
  const req = get(
    {
      host: '127.0.0.1',
      port: Number(port),
      path,
      timeout: timeoutMs,
      headers: { 'User-Agent': 'kube-probe/1.34', Accept: '*/*' },
      rejectUnauthorized: false,
    },
    (res) => {
      console.log(JSON.stringify({ status: res.statusCode }));
      res.destroy();
      process.exit(0);
    },
  );
  req.on('timeout', () => {
    console.log(JSON.stringify({ error: 'timeout' }));
    process.exit(0);
  });
  req.on('error', (err) => {
    console.log(JSON.stringify({ error: why(err) }));
    process.exit(0);
  });
} else {
  const s = net.connect({ host: '127.0.0.1', port: Number(port), timeout: timeoutMs }, () => {
    console.log(JSON.stringify({ answer: 'connected' }));
    s.destroy();
    process.exit(0);
  });
  s.on('timeout', () => {
    console.log(JSON.stringify({ answer: 'timeout' }));
    process.exit(0);
  });
  s.on('error', (err) => {
    console.log(JSON.stringify({ answer: why(err) }));
    process.exit(0);
  });
}

// One agent, as `stateful-migration agent` runs it, from the build under test (argv[2]: a checkout's root, its
// packages built), with every apiserver request it sends counted by verb and resource. The counter is put on that
// build's own RestClient, so the build before the request metric existed is counted the same way. It answers the
// bench's 'report' message with the counts so far.
import { pathToFileURL } from 'node:url';
import { requestKind } from '@stateful-migration/kube';

const [root, ...agentArgs] = process.argv.slice(2) as [string, ...string[]];
const kube = (await import(pathToFileURL(`${root}/packages/kube/dist/index.js`).href)) as {
  RestClient: { prototype: Record<string, (...a: unknown[]) => unknown> };
};
const counts: Record<string, number> = {};
const count = (method: string, path: string, watch: boolean) => {
  const k = requestKind(method, path.split('?')[0]!, watch);
  const key = `${k.verb} ${k.resource}`;
  counts[key] = (counts[key] ?? 0) + 1;
};
const proto = kube.RestClient.prototype;
const request = proto.request!;
const watch = proto.watch!;
proto.request = function (this: unknown, method: unknown, path: unknown, ...rest: unknown[]) {
  count(String(method), String(path), false);
  return request.call(this, method, path, ...rest);
};
proto.watch = function (this: unknown, path: unknown, ...rest: unknown[]) {
  count('GET', String(path), true);
  return watch.call(this, path, ...rest);
};
process.on('message', (m) => {
  if (m === 'report') process.send?.({ counts });
});
// The CLI entry point of that build, as the DaemonSet runs it.
process.argv = [process.argv[0]!, `${root}/packages/cli/dist/main.js`, 'agent', ...agentArgs];
await import(pathToFileURL(`${root}/packages/cli/dist/main.js`).href);

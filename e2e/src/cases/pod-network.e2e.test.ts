// suite: alone — restarts the stand-in of m1-a, under every pod of that node
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { nodeAddressOf } from '../fed/members.js';
import { fedDir, repoRoot } from '../fed/paths.js';
import { readState, restartProcess } from '../fed/procs.js';
import { applyPod, eventually, field, printed, unique } from './support.js';

/**
 * ADR 0011 step 3: a pod on a stand-in node reaches, from inside its own network namespace, the services it is told
 * about (its kubelet at status.hostIP:10250, the apiserver at the `kubernetes` Service, the registry, the Karmada
 * apiserver), each through the pod's forwarder. The client is tlsget (e2e/images/tlsget.c): it verifies the server's
 * certificate against the pod's kube-root-ca.crt for the IP it dials, as in-cluster config does.
 */
const ns = unique('podnet');
const SA = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The forwarder processes (`node .../forward.js`) in a pod's network namespace, by the namespace's inode. */
function forwardersOf(podUid: string): string[] {
  const netns = statSync(join(fedDir, 'nodes', 'm1-a', 'runtime', 'netns', podUid)).ino;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return (
          readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('forward.js') &&
          readlinkSync(`/proc/${d}/ns/net`) === `net:[${netns}]`
        );
      } catch {
        return false;
      }
    });
}

const alive = (pid: string): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

describe("a pod on a stand-in node reaches the node's services through its forwarder (ADR 0011)", () => {
  before(async () => {
    // tlsget, static, on the node's root: the pod mounts it as a hostPath (a busybox image has no verifying client).
    const bin = join(fedDir, 'nodes', 'm1-a', 'opt', 'podnet');
    mkdirSync(bin, { recursive: true });
    execFileSync(
      'gcc',
      [
        '-static',
        '-O2',
        '-o',
        join(bin, 'tlsget'),
        join(repoRoot, 'e2e/images/tlsget.c'),
        '-lssl',
        '-lcrypto',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('the kubelet answers 401 and 403, the apiserver knows the pod’s token, the registry and Karmada answer', async () => {
    const state = readState()!;
    const registry = state.ports.registry!;
    const karmada = state.ports['karmada-apiserver']!;
    const get = (what: string, cmd: string) =>
      `echo "--- ${what}"; /opt/podnet/tlsget ${cmd} 2>&1 | tr -d '\\r'; echo; echo "--- end"`;
    const script = [
      'echo "node=$NODE_IP"; echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"',
      // What the agent asks its kubelet for: a checkpoint of a container (here its own).
      get('kubelet-anonymous', `$NODE_IP 10250 POST /checkpoint/${ns}/client/c ${SA}/ca.crt`),
      get('kubelet-token', `$NODE_IP 10250 POST /checkpoint/${ns}/client/c ${SA}/ca.crt ${SA}/token`),
      get(
        'apiserver',
        `$KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT POST /apis/authentication.k8s.io/v1/selfsubjectreviews ${SA}/ca.crt ${SA}/token '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}'`,
      ),
      get('registry', `127.0.0.1 ${registry} GET /v2/ ${SA}/ca.crt`),
      get('karmada', `127.0.0.1 ${karmada} GET /version ${SA}/ca.crt`),
      'echo "lo=$(ip -o -4 addr show lo | awk \'{print $4}\' | tr "\\n" " ")"',
      'echo done',
      // Then the apiserver again every second, for the restart case below.
      `while true; do sleep 1; echo "tick $(/opt/podnet/tlsget $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT GET /api ${SA}/ca.crt ${SA}/token 2>&1 | head -1 | tr -d '\\r')"; done`,
    ].join('; ');
    await applyPod(ns, 'client', {
      nodeName: 'm1-a',
      volumes: [{ name: 'bin', hostPath: { path: '/opt/podnet', type: 'Directory' } }],
      containers: [
        {
          name: 'c',
          image: 'busybox',
          command: ['sh', '-c', script],
          env: [{ name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }],
          volumeMounts: [{ name: 'bin', mountPath: '/opt/podnet', readOnly: true }],
        },
      ],
    });
    const out = await printed(ns, 'client', undefined, 90_000);
    const section = (name: string): string => out.split(`--- ${name}\n`)[1]?.split('--- end')[0] ?? '';
    const nodeIP = nodeAddressOf(state, 'm1-a');
    assert.equal(field(out, 'node'), nodeIP);
    const apiIP = field(out, 'api')!.split(':')[0]!;
    assert.equal(field(out, 'api'), `${apiIP}:443`);
    // The kubelet, as a real one answers: no credentials, 401; a token without nodes/checkpoint, 403 naming the user.
    assert.match(section('kubelet-anonymous'), /^HTTP\/1\.1 401 Unauthorized\n[\s\S]*\nUnauthorized/);
    assert.match(section('kubelet-token'), /^HTTP\/1\.1 403 Forbidden\n/);
    assert.ok(
      section('kubelet-token').includes(
        `Forbidden (user=system:serviceaccount:${ns}:default, verb=create, resource=nodes, subresource(s)=[checkpoint])`,
      ),
      section('kubelet-token'),
    );
    // The apiserver, through the `kubernetes` Service: it authenticates the pod's token.
    assert.match(section('apiserver'), /^HTTP\/1\.1 201 Created\n/);
    assert.match(section('apiserver'), new RegExp(`"username":"system:serviceaccount:${ns}:default"`));
    // The registry asks for credentials (htpasswd); Karmada's apiserver tells its version to anyone.
    assert.match(section('registry'), /^HTTP\/1\.1 401 Unauthorized\n/);
    assert.match(section('karmada'), /^HTTP\/1\.1 200 OK\n[\s\S]*"gitVersion"/);
    // What the pod is told is on its loopback: its IP, its node's address, the ClusterIP.
    const podIP = (
      await kubectl('member1', ['get', 'pod', '-n', ns, 'client', '-o', 'jsonpath={.status.podIP}'])
    ).trim();
    // (ip lists an address inside 127.0.0.0/8 next to 127.0.0.1: the order says nothing, the set does.)
    assert.deepEqual(
      field(out, 'lo')!.trim().split(' ').sort(),
      ['127.0.0.1/8', `${podIP}/32`, `${nodeIP}/32`, `${apiIP}/32`].sort(),
    );
  });

  it('gives a running pod a new forwarder when its node stand-in restarts (the old one ends with the stand-in)', async () => {
    const uid = (
      await kubectl('member1', ['get', 'pod', '-n', ns, 'client', '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    const old = forwardersOf(uid);
    assert.equal(old.length, 1);
    const ok = async () =>
      (
        (await kubectl('member1', ['logs', '-n', ns, 'client']).catch(() => '')).match(
          /^tick HTTP\/1\.1 200 OK$/gm,
        ) ?? []
      ).length;
    await restartProcess(readState()!, 'node-m1-a');
    const fresh = await eventually(
      () => {
        const now = forwardersOf(uid);
        return Promise.resolve(
          now.length === 1 && !old.includes(now[0]!) && !old.some(alive) ? now : undefined,
        );
      },
      60_000,
      'a new forwarder in the pod’s namespace, the old one gone',
    );
    const before = await eventually(async () => (await ok()) || undefined, 60_000, 'kubectl logs again');
    await eventually(
      async () => ((await ok()) >= before + 2 ? true : undefined),
      60_000,
      'the pod reaching the apiserver through the new forwarder',
    );
    assert.deepEqual(forwardersOf(uid), fresh);
  });

  it('runs one forwarder in the pod’s namespace, which ends with the pod', async () => {
    const uid = (
      await kubectl('member1', ['get', 'pod', '-n', ns, 'client', '-o', 'jsonpath={.metadata.uid}'])
    ).trim();
    const pids = forwardersOf(uid);
    assert.equal(pids.length, 1, 'one forwarder in the pod’s network namespace');
    await kubectl('member1', ['delete', 'pod', '-n', ns, 'client', '--grace-period=1']);
    await eventually(
      () => Promise.resolve(pids.some(alive) ? undefined : true),
      30_000,
      "the pod's forwarder to end",
    );
  });
});

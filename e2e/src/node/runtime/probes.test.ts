import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  httpOutcome,
  initialProbeState,
  probePort,
  probeStep,
  probeTiming,
  tcpOutcome,
  type ProbeWorkerState,
} from './decisions.js';

describe('probeTiming: the API defaults', () => {
  it('0 s delay, every 10 s, 1 s timeout, 3 failures, 1 success', () =>
    assert.deepEqual(probeTiming({}), {
      initialDelayMs: 0,
      periodMs: 10_000,
      timeoutMs: 1000,
      failureThreshold: 3,
      successThreshold: 1,
    }));
  it('takes what the probe says', () =>
    assert.deepEqual(
      probeTiming({
        initialDelaySeconds: 5,
        periodSeconds: 1,
        timeoutSeconds: 2,
        failureThreshold: 1,
        successThreshold: 2,
      }),
      { initialDelayMs: 5000, periodMs: 1000, timeoutMs: 2000, failureThreshold: 1, successThreshold: 2 },
    ));
});

describe('probePort: a number or a named container port', () => {
  const ports = [{ name: 'health', containerPort: 8081 }, { containerPort: 80 }];
  it('numbers and numeric strings', () => {
    assert.deepEqual(probePort(80, ports), { port: 80 });
    assert.deepEqual(probePort('8080', ports), { port: 8080 });
  });
  it('a name', () => assert.deepEqual(probePort('health', ports), { port: 8081 }));
  it('an unknown name', () => assert.deepEqual(probePort('web', ports), { error: 'port "web" not found' }));
});

describe("httpOutcome and tcpOutcome: the kubelet's words", () => {
  const url = 'http://10.1.0.5:8080/healthz';
  for (const status of [200, 204, 301, 399])
    it(`${status} succeeds`, () => assert.deepEqual(httpOutcome(url, { status }), { ok: true }));
  for (const status of [100, 400, 404, 500, 503])
    it(`${status} fails`, () =>
      assert.deepEqual(httpOutcome(url, { status }), {
        ok: false,
        message: `HTTP probe failed with statuscode: ${status}`,
      }));
  it('a refused connection', () =>
    assert.deepEqual(httpOutcome(url, { error: 'refused' }), {
      ok: false,
      message: 'Get "http://10.1.0.5:8080/healthz": dial tcp 10.1.0.5:8080: connect: connection refused',
    }));
  it('a timeout', () =>
    assert.deepEqual(httpOutcome(url, { error: 'timeout' }), {
      ok: false,
      message:
        'Get "http://10.1.0.5:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
    }));
  it('tcp', () => {
    assert.deepEqual(tcpOutcome('10.1.0.5:80', 'connected'), { ok: true });
    assert.deepEqual(tcpOutcome('10.1.0.5:80', 'refused'), {
      ok: false,
      message: 'dial tcp 10.1.0.5:80: connect: connection refused',
    });
    assert.deepEqual(tcpOutcome('10.1.0.5:80', 'timeout'), {
      ok: false,
      message: 'dial tcp 10.1.0.5:80: i/o timeout',
    });
  });
});

describe('probeStep: the kubelet probe worker', () => {
  const t = { failureThreshold: 3, successThreshold: 1 };
  const run = (kind: 'liveness' | 'readiness', outcomes: boolean[], th = t) => {
    let s: ProbeWorkerState = initialProbeState(kind);
    const seen: [boolean, boolean][] = [];
    for (const ok of outcomes) {
      const r = probeStep(kind, s, ok, th);
      s = r.state;
      seen.push([s.result, r.restart]);
    }
    return seen;
  };
  it('readiness starts not ready and is ready at the first success', () =>
    assert.deepEqual(run('readiness', [false, true]), [
      [false, false],
      [true, false],
    ]));
  it('readiness turns false only after failureThreshold failures in a row', () =>
    assert.deepEqual(
      run('readiness', [true, false, false, true, false, false, false]).map(([r]) => r),
      [true, true, true, true, true, true, false],
    ));
  it('successThreshold 2 needs two successes in a row', () =>
    assert.deepEqual(
      run('readiness', [true, false, true, true], { failureThreshold: 1, successThreshold: 2 }).map(
        ([r]) => r,
      ),
      [false, false, false, true],
    ));
  it('liveness starts alive; failureThreshold failures in a row restart, once, and the run starts again', () =>
    assert.deepEqual(run('liveness', [false, false, false, false, false, false]), [
      [true, false],
      [true, false],
      [false, true],
      [false, false],
      [false, false],
      [false, true],
    ]));
  it('liveness with failureThreshold 1 restarts at the first failure', () =>
    assert.deepEqual(run('liveness', [true, false], { failureThreshold: 1, successThreshold: 1 }), [
      [true, false],
      [false, true],
    ]));
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressesToAdd,
  duplicateListen,
  forwarderArgs,
  parseForwarderArg,
  parseForwardRule,
  type ForwardRule,
} from './forward-rules.js';

const rules: ForwardRule[] = [
  { listen: { host: '127.9.1.1', port: 10250 }, target: { host: '127.9.1.1', port: 10250 } },
  { listen: { host: '10.96.0.1', port: 443 }, target: { host: '127.0.0.1', port: 40123 } },
  { listen: { host: '127.0.0.1', port: 40200 }, target: { host: '127.0.0.1', port: 40200 } },
  { listen: { host: '127.0.0.1', port: 40300 }, target: { host: '127.0.0.1', port: 40300 } },
];

describe('forwarding rules (ADR 0011 step 3)', () => {
  it('parses <listen>=<target> and refuses anything else with the rule in the message', () => {
    assert.deepEqual(parseForwardRule('10.96.0.1:443=127.0.0.1:40123'), rules[1]);
    for (const bad of [
      '10.96.0.1:443',
      '10.96.0.1:443=127.0.0.1:1=x',
      'kubernetes:443=127.0.0.1:1',
      '10.96.0.256:443=127.0.0.1:1',
      '10.96.0.1=127.0.0.1:1',
      '10.96.0.1:0=127.0.0.1:1',
      '10.96.0.1:443=127.0.0.1:65536',
      '10.96.0.1:x=127.0.0.1:1',
    ])
      assert.throws(
        () => parseForwardRule(bad),
        (e: Error) => e.message.includes('"'),
        bad,
      );
  });

  it('finds two rules on one listen address', () => {
    assert.equal(duplicateListen(rules), undefined);
    assert.equal(
      duplicateListen([...rules, { ...rules[1]!, target: { host: '127.0.0.1', port: 1 } }]),
      '10.96.0.1:443',
    );
    assert.equal(duplicateListen([]), undefined);
  });

  it('hands the forwarder one socket per rule, and the forwarder reads back what it was handed', () => {
    const args = forwarderArgs(rules, '/run/n/forward');
    assert.deepEqual(args, [
      '127.9.1.1:10250=/run/n/forward/0.sock',
      '10.96.0.1:443=/run/n/forward/1.sock',
      '127.0.0.1:40200=/run/n/forward/2.sock',
      '127.0.0.1:40300=/run/n/forward/3.sock',
    ]);
    assert.deepEqual(
      args.map(parseForwarderArg),
      rules.map((r, i) => ({ listen: r.listen, socket: `/run/n/forward/${i}.sock` })),
    );
    assert.throws(() => parseForwarderArg('127.0.0.1:1=relative.sock'));
    assert.throws(() => parseForwarderArg('127.0.0.1:1'));
  });

  it('adds each address the pod is told about to its lo once, but not 127.0.0.1, which lo up gives', () => {
    assert.deepEqual(addressesToAdd(rules), ['127.9.1.1', '10.96.0.1']);
    assert.deepEqual(addressesToAdd([rules[2]!, rules[3]!]), []);
  });
});

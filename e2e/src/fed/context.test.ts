import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindHint } from './context.js';

const inUse = 'listen tcp 127.1.0.1:10250: bind: address already in use';

describe('bindHint', () => {
  it('names the address and port of a component bound off 127.0.0.1 (a kubelet at its node address)', () => {
    assert.equal(bindHint({ port: 10250, host: '127.1.0.1' }, inUse), ': port 127.1.0.1:10250 is taken');
  });
  it('names loopback for a component with only a port', () => {
    assert.equal(bindHint({ port: 5000 }, inUse), ': port 127.0.0.1:5000 is taken');
  });
  it('says ? only when the component was given no port', () => {
    assert.equal(bindHint({}, inUse), ': port ? is taken');
  });
  it('says nothing when the log shows no failed bind', () => {
    assert.equal(bindHint({ port: 5000 }, 'listening on 127.0.0.1:5000'), '');
  });
});

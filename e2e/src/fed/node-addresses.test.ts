import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressLabel,
  fedByteCandidates,
  fedTag,
  nodeAddress,
  ownAddresses,
  parseLoAddresses,
  pickFedByte,
} from './node-addresses.js';

const ipOutput = (lines: [string, string][]): string =>
  lines
    .map(([a, l]) => `1: lo    inet ${a} scope host ${l}\\       valid_lft forever preferred_lft forever`)
    .join('\n');

describe('node addresses per federation', () => {
  it('gives each directory a label of at most 15 characters (IFNAMSIZ - 1) that starts with lo:', () => {
    for (const d of ['/work/a/.fed', '/work/b/.fed', '/x']) {
      assert.match(addressLabel(d), /^lo:sm[0-9a-f]{10}$/);
      assert.ok(addressLabel(d).length <= 15);
    }
    assert.notEqual(fedTag('/work/a/.fed'), fedTag('/work/b/.fed'));
  });

  it('tries every byte 2..254 once, starting from one derived from the directory', () => {
    const c = fedByteCandidates('/work/s15-net/.fed');
    assert.equal(c.length, 253);
    assert.deepEqual(
      [...c].sort((a, b) => a - b),
      Array.from({ length: 253 }, (_, i) => i + 2),
    );
    assert.deepEqual(fedByteCandidates('/work/s15-net/.fed'), c, 'the same directory, the same order');
    assert.notEqual(fedByteCandidates('/work/other/.fed')[0], c[0]);
  });

  it('parses ip -o addr output, labels included', () => {
    const out = ipOutput([
      ['127.0.0.1/8', 'lo'],
      ['127.9.1.1/32', 'lo:sm0123456789'],
    ]);
    assert.deepEqual(parseLoAddresses(out), [
      { address: '127.0.0.1', label: 'lo' },
      { address: '127.9.1.1', label: 'lo:sm0123456789' },
    ]);
    assert.deepEqual(parseLoAddresses(''), []);
  });

  it('skips bytes another federation holds, and reclaims its own after a crash', () => {
    const dir = '/work/s15-net/.fed';
    const [first, second] = fedByteCandidates(dir);
    assert.equal(pickFedByte(dir, []), first);
    assert.equal(pickFedByte(dir, [{ address: `127.${first}.1.1`, label: 'lo:smffffffffff' }]), second);
    // An address of ours a crashed run left: not taken by anyone else.
    assert.equal(pickFedByte(dir, [{ address: `127.${first}.1.1`, label: addressLabel(dir) }]), first);
    // Another federation's address with no label (added by hand) counts as taken too.
    assert.equal(pickFedByte(dir, [{ address: `127.${first}.3.1`, label: 'lo' }]), second);
    const all = fedByteCandidates('/other').map((f) => ({ address: `127.${f}.1.1`, label: 'lo:smother' }));
    assert.equal(pickFedByte(dir, all), undefined);
  });

  it('numbers nodes 127.<f>.<n>.1 and refuses bytes outside its range', () => {
    assert.equal(nodeAddress(9, 1), '127.9.1.1');
    assert.equal(nodeAddress(254, 4), '127.254.4.1');
    assert.throws(() => nodeAddress(0, 1), RangeError);
    assert.throws(() => nodeAddress(1, 1), RangeError);
    assert.throws(() => nodeAddress(255, 1), RangeError);
    assert.throws(() => nodeAddress(9, 0), RangeError);
  });

  it('finds exactly its own addresses to remove', () => {
    const dir = '/work/s15-net/.fed';
    const onLo = [
      { address: '127.0.0.1', label: 'lo' },
      { address: '127.9.1.1', label: addressLabel(dir) },
      { address: '127.9.2.1', label: addressLabel(dir) },
      { address: '127.10.1.1', label: addressLabel('/work/other/.fed') },
    ];
    assert.deepEqual(ownAddresses(dir, onLo), ['127.9.1.1', '127.9.2.1']);
  });
});

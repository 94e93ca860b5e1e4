import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pin, unpin } from './pins.js';

it('pin adds images once, sorted', () => {
  assert.equal(pin(undefined, ['b@1', 'a@1']), 'a@1,b@1');
  assert.equal(pin('a@1, c@1', ['a@1', 'b@1']), 'a@1,b@1,c@1');
  assert.equal(pin('', []), '');
});

it('unpin removes images except those another restore still uses; nothing left gives undefined', () => {
  assert.equal(unpin('a@1,b@1,c@1', ['a@1', 'b@1'], ['b@1']), 'b@1,c@1');
  assert.equal(unpin('a@1', ['a@1'], []), undefined);
  assert.equal(unpin(undefined, ['a@1'], []), undefined);
});

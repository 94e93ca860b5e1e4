import assert from 'node:assert/strict';
import { it } from 'node:test';
import { microTime } from './leader.js';

it('microTime writes six fractional digits, as the apiserver parses MicroTime', () => {
  assert.equal(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), '2026-01-02T03:04:05.678000Z');
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestedChartHub } from './chart-hub.js';

describe('requestedChartHub (FED_CHART_HUB, fed up --chart-hub)', () => {
  it('is undefined when not asked for, so the hub stays the local process', () => {
    assert.equal(requestedChartHub(''), undefined);
    assert.equal(requestedChartHub('  '), undefined);
  });
  it("names one of the federation's nodes", () => {
    assert.equal(requestedChartHub('m1-a'), 'm1-a');
    assert.equal(requestedChartHub(' m2-b '), 'm2-b');
  });
  it('refuses a node the federation has not, naming those it has (a typo would run the local hub)', () => {
    assert.throws(
      () => requestedChartHub('member1'),
      /no node member1 in the federation \(nodes: m1-a, m1-b, m2-a, m2-b\)/,
    );
  });
});

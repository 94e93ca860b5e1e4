import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_LABEL_VALUE, MAX_OBJECT_NAME, labelValue, objectName } from './bounded-names.js';

// The apiserver's rule for a label value: empty, or at most 63 characters of [A-Za-z0-9._-] that start and end
// alphanumeric (k8s.io/apimachinery validation.IsValidLabelValue).
const valid = (v: string) =>
  v.length <= MAX_LABEL_VALUE && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v);

describe('labelValue', () => {
  it('keeps a value that fits as it is, up to 63 characters', () => {
    for (const v of ['a', 'shop.move', 'x'.repeat(63), `${'n'.repeat(31)}.${'r'.repeat(31)}`]) {
      assert.equal(labelValue(v), v);
    }
  });

  it('gives a valid value for every length past 63, ending in a letter or digit even where the cut meets . or -', () => {
    for (let len = 64; len <= 317; len++) {
      for (const filler of ['a', '-', '.', 'a.', 'a-']) {
        const full = `n.${filler.repeat(len)}`.slice(0, len - 1) + 'z';
        const v = labelValue(full);
        assert.ok(valid(v), `${JSON.stringify(v)} (from ${len} characters) is not a valid label value`);
      }
    }
  });

  it('keeps two long names that share their first 63 characters apart, and gives one name the same value each time', () => {
    const a = `shop.${'r'.repeat(70)}-one`;
    const b = `shop.${'r'.repeat(70)}-two`;
    assert.notEqual(labelValue(a), labelValue(b));
    assert.equal(labelValue(a), labelValue(`shop.${'r'.repeat(70)}-one`));
    assert.ok(labelValue(a).startsWith('shop.rrr'), 'the readable start stays');
  });
});

// An object name: a DNS-1123 subdomain of at most 253 characters (apimachinery validation.IsDNS1123Subdomain).
const validName = (v: string) =>
  v.length <= MAX_OBJECT_NAME && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(v);

describe('objectName', () => {
  it('keeps a name that fits; past 253 it is valid for every length, even where a cut would end in - or .', () => {
    assert.equal(objectName('r1-registry-pull'), 'r1-registry-pull');
    for (let len = 1; len <= 253 + 16; len++) {
      for (const suffix of ['-registry-pull', '-migrate', '.shop.r']) {
        const full = `${'a'.repeat(len)}${suffix}`;
        assert.ok(validName(objectName(full)), `${len}${suffix}: ${objectName(full)}`);
      }
    }
  });

  it('two long names that differ only past the cut stay two names', () => {
    const a = `${'r'.repeat(250)}-one-registry-pull`;
    const b = `${'r'.repeat(250)}-two-registry-pull`;
    assert.notEqual(objectName(a), objectName(b));
  });
});

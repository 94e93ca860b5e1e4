import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialsMayGo, mayFollow, normalHost, registryBase, shown } from './origin.js';

const reg = registryBase('registry.example.com');
const regPort = registryBase('registry.example.com:5000');
const plainReg = registryBase('10.0.0.5:5000', true);

describe('credentialsMayGo: the registry origin only, plus token hosts the platform named', () => {
  const cases: [string, URL, string, string[], RegExp | 'ok'][] = [
    ['same origin', reg, 'https://registry.example.com/token', [], 'ok'],
    ['same origin, default port written', reg, 'https://registry.example.com:443/v2/', [], 'ok'],
    ['same origin, other case', reg, 'https://REGISTRY.example.com/v2/', [], 'ok'],
    [
      'same host, other port',
      reg,
      'https://registry.example.com:8443/token',
      [],
      /another host .*registry\.example\.com\)/,
    ],
    ['port given, same port', regPort, 'https://registry.example.com:5000/t', [], 'ok'],
    ['port given, default port', regPort, 'https://registry.example.com/t', [], /another host/],
    [
      'another host',
      reg,
      'https://auth.example.com/token',
      [],
      /another host than the registry \(registry\.example\.com\)/,
    ],
    ['a subdomain is another host', reg, 'https://evil.registry.example.com/token', [], /another host/],
    ['a suffix is another host', reg, 'https://registry.example.com.evil.io/token', [], /another host/],
    [
      'user info does not make it the same host',
      reg,
      'https://registry.example.com@evil.io/t',
      [],
      /another host/,
    ],
    ['loopback, other port', registryBase('127.0.0.1:5000'), 'https://127.0.0.1:5001/t', [], /another host/],
    ['plain http on the same host:port', reg, 'http://registry.example.com/token', [], /plain http/],
    ['plain http elsewhere', reg, 'http://auth.example.com/token', [], /plain http/],
    [
      'plain http to a trusted token host',
      reg,
      'http://auth.example.com/token',
      ['auth.example.com'],
      /plain http/,
    ],
    ['a trusted token host', reg, 'https://auth.example.com/token', ['auth.example.com'], 'ok'],
    [
      'a trusted token host, case and default port',
      reg,
      'https://Auth.Example.com:443/t',
      ['AUTH.example.com:443'],
      'ok',
    ],
    [
      'a trusted host with another port is not trusted',
      reg,
      'https://auth.example.com:8443/t',
      ['auth.example.com'],
      /another host/,
    ],
    ['not http at all', reg, 'ftp://registry.example.com/token', [], /ftp: is not http/],
    ['file URL', reg, 'file:///etc/passwd', [], /file: is not http/],
    ['an http registry, same origin', plainReg, 'http://10.0.0.5:5000/token', [], 'ok'],
    ['an http registry, https on its host', plainReg, 'https://10.0.0.5:5000/token', [], /another host/],
    ['an http registry, another http host', plainReg, 'http://10.0.0.6:5000/token', [], /plain http/],
  ];
  for (const [name, base, target, trusted, want] of cases) {
    it(name, () => {
      const v = credentialsMayGo(base, new URL(target), trusted);
      if (want === 'ok') assert.deepEqual(v, { ok: true });
      else {
        assert.equal(v.ok, false);
        assert.match((v as { why: string }).why, want);
      }
    });
  }
});

describe('mayFollow: never a downgrade to plain http, only http(s)', () => {
  const cases: [URL, string, boolean][] = [
    [reg, 'https://elsewhere.example/x', true],
    [reg, 'https://registry.example.com/x', true],
    [reg, 'http://registry.example.com/x', false],
    [reg, 'http://elsewhere.example/x', false],
    [reg, 'javascript:alert(1)', false],
    [plainReg, 'http://elsewhere.example/x', true],
    [plainReg, 'https://elsewhere.example/x', true],
  ];
  for (const [base, target, ok] of cases)
    it(`${base.protocol} registry -> ${target}: ${ok ? 'followed' : 'refused'}`, () =>
      assert.equal(mayFollow(base, new URL(target)).ok, ok));
});

describe('helpers', () => {
  it('normalHost lowercases and drops the default https port', () => {
    assert.equal(normalHost('Reg.Example.com:443'), 'reg.example.com');
    assert.equal(normalHost('reg.example.com:5000'), 'reg.example.com:5000');
  });
  it('shown drops the query and user info, which may hold upload state or signatures', () => {
    assert.equal(
      shown(new URL('https://u:p@h.example:8443/upload/1?_state=abc&sig=x')),
      'https://h.example:8443/upload/1',
    );
  });
});

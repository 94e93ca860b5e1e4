import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tokenHostsFromFlags } from './main.js';

describe('tokenHostsFromFlags: which token services the platform trusts with which registry', () => {
  it('maps each registry host (normalized) to its token hosts; none given is none trusted', () => {
    assert.deepEqual(tokenHostsFromFlags(), {});
    assert.deepEqual(
      tokenHostsFromFlags([
        'registry-1.docker.io=auth.docker.io',
        'Registry.GitLab.com:443=gitlab.com',
        'registry.gitlab.com=gitlab.example.com:8443',
      ]),
      {
        'registry-1.docker.io': ['auth.docker.io'],
        'registry.gitlab.com': ['gitlab.com', 'gitlab.example.com:8443'],
      },
    );
  });
  for (const bad of [
    'auth.docker.io',
    '=gitlab.com',
    'registry.gitlab.com=',
    'a=b=c',
    'r=https://gitlab.com',
    'r=h x',
  ])
    it(`refuses "${bad}" with a message naming the form`, () =>
      assert.throws(() => tokenHostsFromFlags([bad]), /is not registry=host/));
});

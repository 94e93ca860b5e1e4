import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  normalHost as apiNormalHost,
  parseRegistryHosts,
  registryCredentials,
} from '@stateful-migration/api';
import { normalHost } from '@stateful-migration/registry';
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

describe('one host normaliser for the default-secret list and the token-host lookup', () => {
  const backup = (url: string) => ({
    metadata: { name: 'b', namespace: 'shop' },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'p' },
      resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'p' },
      registry: { url, repository: 'shop/ck' },
    },
  });

  it('is the same function in packages/api and packages/registry', () =>
    assert.equal(normalHost, apiNormalHost));

  it('reg:443 and reg (https) are one host, whichever way round', () => {
    for (const [flag, url] of [
      ['reg:443', 'reg'],
      ['reg', 'reg:443'],
      ['Reg.Example:443', 'reg.example/'],
    ] as const) {
      assert.equal(
        registryCredentials(backup(url), parseRegistryHosts(flag)).kind,
        'default',
        `--default-secret-registries=${flag}, url ${url}`,
      );
      const tokens = tokenHostsFromFlags([`${flag}=auth.example`]);
      assert.deepEqual(
        tokens[normalHost(url)],
        ['auth.example'],
        `--registry-token-host ${flag}=…, url ${url}`,
      );
    }
  });

  it('another port, a scheme, a path or userinfo stays another host', () => {
    for (const url of ['reg:5000', 'https://reg', 'reg/x', 'u@reg'])
      assert.equal(registryCredentials(backup(url), parseRegistryHosts('reg')).kind, 'refused', url);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PublicKeysRef } from '@stateful-migration/api';
import { ANNOTATION_JWE, ANNOTATION_PUBOPTS } from '@stateful-migration/ocicrypt';
import {
  ENCRYPTED_FOR_ANNOTATION,
  encryptionRefusal,
  isOwnEncryptedPush,
  keysUnavailable,
  withRecipients,
} from './encryption.js';

const cm: PublicKeysRef = { kind: 'ConfigMap', name: 'keys' };
const secret: PublicKeysRef = { kind: 'Secret', name: 'keys' };

describe('keysUnavailable: why the keys object could not be read', () => {
  it('404: it does not exist here', () => {
    assert.deepEqual(keysUnavailable(cm, 'shop', 404, 'HTTP 404'), {
      reason: 'EncryptionKeysNotFound',
      message:
        'spec.encryption.publicKeysRef: ConfigMap shop/keys does not exist in this cluster: create it, one PEM public key per data key',
    });
  });
  it('403: the agent needs a Role for that one object', () => {
    const r = keysUnavailable(secret, 'shop', 403, 'HTTP 403');
    assert.equal(r.reason, 'EncryptionKeysUnreadable');
    assert.match(
      r.message,
      /Secret shop\/keys cannot be read by the agent \(403 Forbidden\): give its ServiceAccount get on that one Secret, with a Role in shop/,
    );
  });
  it('anything else: the error as described', () => {
    assert.match(
      keysUnavailable(cm, 'shop', undefined, 'ECONNRESET').message,
      /cannot be read \(ECONNRESET\)$/,
    );
  });
});

describe('encryptionRefusal', () => {
  const ref = { publicKeysRef: cm };
  it('refuses encryption without a registry, and nothing else', () => {
    assert.equal(
      encryptionRefusal({ spec: { encryption: ref } } as never)?.reason,
      'EncryptionNeedsRegistry',
    );
    assert.equal(
      encryptionRefusal({ spec: { encryption: ref, registry: { url: 'r', repository: 'x' } } } as never),
      undefined,
    );
    assert.equal(encryptionRefusal({ spec: {} } as never), undefined);
  });
});

describe("isOwnEncryptedPush: the image at a run's tag is that run's encrypted push", () => {
  const fps = ['sha256:aa', 'sha256:bb'];
  const annotations = withRecipients({ 'org.criu.checkpoint.container.name': 'app' }, fps);
  const layer = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+encrypted',
    annotations: { [ANNOTATION_JWE]: 'e30=', [ANNOTATION_PUBOPTS]: 'e30=' },
  };
  const ours = { annotations: { ...annotations, 'org.opencontainers.image.created': 'x' }, layers: [layer] };
  it('recognises it', () => {
    assert.equal(annotations[ENCRYPTED_FOR_ANNOTATION], 'sha256:aa,sha256:bb');
    assert.ok(isOwnEncryptedPush(ours, annotations, fps));
  });
  const others: [string, Parameters<typeof isOwnEncryptedPush>[0], string[]][] = [
    ['a layer in clear', { ...ours, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar' }] }, fps],
    ['an encrypted layer without a JWE', { ...ours, layers: [{ mediaType: layer.mediaType }] }, fps],
    [
      'one layer of two in clear',
      { ...ours, layers: [layer, { mediaType: 'application/vnd.oci.image.layer.v1.tar' }] },
      fps,
    ],
    ['no layers', { ...ours, layers: [] }, fps],
    ['other recipients', ours, ['sha256:aa']],
    ['recipients in another order', ours, ['sha256:bb', 'sha256:aa']],
    [
      'another container',
      { ...ours, annotations: { ...ours.annotations, 'org.criu.checkpoint.container.name': 'db' } },
      fps,
    ],
    ['no annotations', { layers: [layer] }, fps],
  ];
  for (const [name, found, recipients] of others)
    it(`not ${name}`, () => {
      assert.equal(
        isOwnEncryptedPush(
          found,
          withRecipients({ 'org.criu.checkpoint.container.name': 'app' }, recipients),
          recipients,
        ),
        false,
      );
    });
  it('withRecipients leaves an image in clear as it is', () => {
    const a = { x: 'y' };
    assert.equal(withRecipients(a, undefined), a);
  });
});

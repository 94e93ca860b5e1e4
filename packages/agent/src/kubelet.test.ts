import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainKubeletAnswer } from './kubelet.js';

describe('explainKubeletAnswer: every kubelet answer ends in a message a user can act on', () => {
  const t = 'ns/p/app';
  const cases: [number, string, string, RegExp, boolean][] = [
    [
      401,
      'Unauthorized',
      'KubeletUnauthorized',
      /refused the agent's token \(401\).*service account token/,
      false,
    ],
    [
      403,
      'Forbidden (user=system:serviceaccount:x:y, verb=create, resource=nodes, subresource(s)=[checkpoint])',
      'KubeletForbidden',
      /grant the agent's service account "create" on "nodes\/checkpoint"/,
      false,
    ],
    [
      404,
      'pod does not exist',
      'KubeletNotFound',
      /kubelet on n1 has no ns\/p\/app \(404: pod does not exist\)/,
      false,
    ],
    [404, 'container app does not exist', 'KubeletNotFound', /container app does not exist/, false],
    [
      500,
      'checkpointing of ns/p/app failed (rpc error: code = Unimplemented desc = checkpoint/restore support not available)',
      'CheckpointUnsupported',
      /enable CRIU support in CRI-O/,
      false,
    ],
    [
      500,
      'checkpointing of ns/p/app failed (rpc error: code = Unknown desc = CRIU binary not found or too old)',
      'CheckpointUnsupported',
      /cannot checkpoint/,
      false,
    ],
    [
      500,
      'checkpointing of ns/p/app failed (rpc error: code = DeadlineExceeded desc = context deadline exceeded)',
      'CheckpointTimeout',
      /timed out in the runtime/,
      true,
    ],
    [
      500,
      'checkpointing of ns/p/app failed (rpc error: code = Unknown desc = container app is already being checkpointed)',
      'CheckpointInProgress',
      /the runtime on n1 is already checkpointing ns\/p\/app .*waiting for it to finish/,
      true,
    ],
    [
      500,
      'checkpointing of ns/p/app failed (rpc error: code = Unknown desc = CRIU dump failed)',
      'CheckpointFailed',
      /kubelet failed to checkpoint ns\/p\/app \(500: /,
      true,
    ],
  ];
  for (const [code, body, reason, message, transient] of cases) {
    it(`${code} ${body.slice(0, 40)} -> ${reason}`, () => {
      const e = explainKubeletAnswer(code, body, t, 'n1');
      assert.equal(e.reason, reason);
      assert.match(e.message, message);
      assert.equal(e.transient, transient);
    });
  }
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const main = fileURLToPath(new URL('./main.js', import.meta.url));
/** The CLI's `hub` with these flags, stopped before it reads a kubeconfig (an unreadable one, if it gets that far). */
const hub = (...flags: string[]) =>
  spawnSync(process.execPath, [main, 'hub', '--kubeconfig', '/nonexistent/kubeconfig', ...flags], {
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('stateful-migration hub: the leader-election flags, as kube-controller-manager has them', () => {
  it('--help gives each with its default as a duration', () => {
    const help = spawnSync(process.execPath, [main, 'hub', '--help'], { encoding: 'utf8' }).stdout;
    assert.match(help, /--leader-elect-lease-duration <duration>[^]*\(default: 15s\)/);
    assert.match(help, /--leader-elect-renew-deadline <duration>[^]*\(default: 10s\)/);
    assert.match(help, /--leader-elect-retry-period <duration>[^]*\(default: 2s\)/);
  });

  it('refuses a duration that is none, or not whole seconds for the Lease', () => {
    for (const [flag, v, why] of [
      ['--leader-elect-lease-duration', '1.5s', /a positive duration/],
      ['--leader-elect-lease-duration', '1500ms', /whole seconds/],
      ['--leader-elect-lease-duration', '0s', /a positive duration/],
      ['--leader-elect-retry-period', 'soon', /a positive duration/],
    ] as const) {
      const r = hub(flag, v);
      assert.equal(r.status, 1, `${flag} ${v}`);
      assert.match(r.stderr, new RegExp(`option '${flag} <duration>' argument '${v}' is invalid`));
      assert.match(r.stderr, why);
    }
  });

  it('refuses a renew deadline not shorter than the lease duration: two leaders could act at once', () => {
    const r = hub('--leader-elect-lease-duration', '30s', '--leader-elect-renew-deadline', '30s');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /--leader-elect-renew-deadline must be shorter than --leader-elect-lease-duration/,
    );
  });

  it('refuses a retry period the renew deadline cannot fit 1.2 times (client-go: the leader would lose every term)', () => {
    const r = hub('--leader-elect-retry-period', '10s');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /--leader-elect-renew-deadline must be more than 1.2 times --leader-elect-retry-period/,
    );
  });

  it('takes longer settings for a busy Karmada apiserver (and goes on to read its kubeconfig)', () => {
    const r = hub(
      '--leader-elect-lease-duration',
      '1m',
      '--leader-elect-renew-deadline',
      '40s',
      '--leader-elect-retry-period',
      '500ms',
    );
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stderr, /leader-elect/);
    assert.match(r.stderr, /nonexistent\/kubeconfig/);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION } from './version.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cliPackage = JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  engines: { node: string };
};

describe('stateful-migration as an npm package: `pnpm pack` tarballs installed into an empty project', () => {
  let dir = '';
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { cwd: join(dir, 'app'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sm-pack-'));
    // Every workspace package is published beside the CLI (scoped @stateful-migration/*), so all are packed; the
    // third-party dependencies come from the npm registry (its cache first).
    execFileSync('pnpm', ['-r', '--filter', './packages/*', 'pack', '--pack-destination', join(dir, 'tgz')], {
      cwd: root,
      stdio: 'ignore',
    });
    execFileSync('mkdir', [join(dir, 'app')]);
    writeFileSync(join(dir, 'app/package.json'), '{"name":"empty","private":true}\n');
    const tarballs = readdirSync(join(dir, 'tgz')).map((f) => join(dir, 'tgz', f));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is named stateful-migration, with a bin for npx and one for kubectl, for the Node versions it runs on', () => {
    assert.equal(cliPackage.name, 'stateful-migration');
    assert.deepEqual(Object.keys(cliPackage.bin).sort(), [
      'kubectl-stateful_migration',
      'stateful-migration',
    ]);
    assert.equal(cliPackage.engines.node, '>=20.19');
  });

  it('`npx stateful-migration --help` lists the commands; `--version` prints the version', () => {
    const help = run('npx', ['--no-install', 'stateful-migration', '--help']);
    for (const c of ['agent', 'hub', 'status', 'crd']) assert.match(help, new RegExp(`^  ${c}\\b`, 'm'));
    assert.equal(run('npx', ['--no-install', 'stateful-migration', '--version']).trim(), VERSION);
  });

  it('kubectl finds it as a plugin: kubectl-stateful_migration on PATH runs the same CLI', () => {
    const bin = join(dir, 'app/node_modules/.bin/kubectl-stateful_migration');
    assert.equal(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim(), VERSION);
  });

  it('the tarball carries the built CLI, not its tests or sources', () => {
    const files = execFileSync('tar', ['-tzf', join(dir, 'tgz', `stateful-migration-${VERSION}.tgz`)], {
      encoding: 'utf8',
    }).split('\n');
    assert.ok(files.includes('package/dist/main.js'));
    assert.ok(!files.some((f) => /\.test\.|\/src\/|\.map$/.test(f)), files.join(' '));
  });
});

describe('one version: the CLI, the image and the chart', () => {
  it('--version is packages/cli/package.json version', () => {
    const out = execFileSync(process.execPath, [join(root, 'packages/cli/dist/main.js'), '--version'], {
      encoding: 'utf8',
    });
    assert.equal(out.trim(), cliPackage.version);
    assert.equal(VERSION, cliPackage.version);
  });

  it("the image is built with that version (agent-image.sh reads it; the Containerfile's label and env carry it)", () => {
    const script = readFileSync(join(root, 'e2e/scripts/agent-image.sh'), 'utf8');
    assert.match(script, /version=\$\(node -p 'require\("\.\/packages\/cli\/package\.json"\)\.version'\)/);
    assert.match(script, /--build-arg VERSION="\$version"/);
    const containerfile = readFileSync(join(root, 'deploy/Containerfile'), 'utf8');
    assert.match(containerfile, /org\.opencontainers\.image\.version="\$\{VERSION\}"/);
    assert.match(containerfile, /STATEFUL_MIGRATION_VERSION="\$\{VERSION\}"/);
    assert.match(containerfile, /if \[ "\$VERSION" != "\$want" \]/, 'the build refuses another version');
  });
});

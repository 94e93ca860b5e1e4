import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CHECKPOINT_RESTORE_LABEL,
  CrioConfigError,
  crioCheckpointRestore,
  labelPatch,
  readCrioCheckpointRestore,
  readToml,
} from './runtime-setting.js';

const level = (v: string) => `[crio.checkpoint_restore]\ncontainer_level_enabled = "${v}"\n`;
const legacy = (v: boolean) => `[crio.runtime]\nenable_criu_support = ${v}\n`;
/** Files in CRI-O's order, named as on the node. */
const files = (...texts: string[]) =>
  texts.map((text, i) => ({ name: `/etc/crio/crio.conf.d/${i}.conf`, text }));
const setting = (...texts: string[]) => crioCheckpointRestore(files(...texts));
const refused = (texts: string[], ...words: RegExp[]) =>
  assert.throws(
    () => setting(...texts),
    (err: unknown) => {
      assert.ok(err instanceof CrioConfigError, String(err));
      for (const w of words) assert.match(err.message, w);
      return true;
    },
  );

describe('crioCheckpointRestore: the effective setting', () => {
  it("is CRI-O's default, checkpoint_only, when nothing says otherwise", () => {
    assert.equal(setting(), 'checkpoint_only');
    assert.equal(setting(''), 'checkpoint_only');
    assert.equal(
      setting('[crio]\nlog_dir = "/var/log/crio"\n[crio.runtime]\ncgroup_manager = "systemd"\n'),
      'checkpoint_only',
    );
  });

  it('reads each value of [crio.checkpoint_restore] container_level_enabled, as the node stand-ins write it', () => {
    for (const v of ['none', 'checkpoint_only', 'checkpoint_restore'] as const)
      assert.equal(setting(level(v)), v);
  });

  it('reads the legacy [crio.runtime] enable_criu_support: true allows both, false neither', () => {
    assert.equal(setting(legacy(true)), 'checkpoint_restore');
    assert.equal(setting(legacy(false)), 'none');
  });

  it('a later file overrides what an earlier one set, for each key', () => {
    assert.equal(setting(level('none'), level('checkpoint_restore')), 'checkpoint_restore');
    assert.equal(setting(level('checkpoint_restore'), level('none')), 'none');
    assert.equal(setting(legacy(true), legacy(false)), 'none');
    assert.equal(setting(legacy(false), legacy(true)), 'checkpoint_restore');
    assert.equal(setting(level('checkpoint_restore'), '# nothing here\n', '[crio]\n'), 'checkpoint_restore');
  });

  it('within one file, the last of a repeated key counts', () => {
    assert.equal(
      setting(`${level('none')}container_level_enabled = "checkpoint_restore"\n`),
      'checkpoint_restore',
    );
  });

  it('container_level_enabled wins over the legacy key in any file order and in one file', () => {
    assert.equal(setting(level('checkpoint_only'), legacy(true)), 'checkpoint_only');
    assert.equal(setting(legacy(true), level('checkpoint_only')), 'checkpoint_only');
    assert.equal(setting(level('checkpoint_restore'), legacy(false)), 'checkpoint_restore');
    assert.equal(setting(legacy(false) + level('checkpoint_restore')), 'checkpoint_restore');
    assert.equal(setting(level('none') + legacy(true)), 'none');
  });

  it('a value CRI-O would refuse, of either key, is an error naming the file, line and value', () => {
    refused(
      [level('yes')],
      /\/etc\/crio\/crio\.conf\.d\/0\.conf:2: /,
      /container_level_enabled = "yes"/,
      /"checkpoint_restore"/,
    );
    refused(['[crio.checkpoint_restore]\ncontainer_level_enabled = true\n'], /= true is not one of/);
    refused(
      ['[crio.checkpoint_restore]\ncontainer_level_enabled = "checkpoint_restore\n'],
      /= "checkpoint_restore is not/,
    );
    refused(
      ['[crio.checkpoint_restore]\ncontainer_level_enabled = "checkpoint\\qrestore"\n'],
      /is not one of/,
    );
    refused(
      [legacy(true), '\n\n[crio.runtime]\nenable_criu_support = "true"\n'],
      /1\.conf:4: .*enable_criu_support = "true" is not true or false/,
    );
    refused(['[crio.runtime]\nenable_criu_support = 1\n'], /= 1 is not true or false/);
    // Values are case-sensitive, as CRI-O's
    refused([level('Checkpoint_Restore')], /is not one of/);
  });

  it('a refused value overridden by a later file is no error; a later refused value is, even over a good one', () => {
    assert.equal(setting(level('bogus'), level('checkpoint_restore')), 'checkpoint_restore');
    refused([level('checkpoint_restore'), level('bogus')], /1\.conf:2:/);
    // the legacy key is not read at all when the newer one decides
    assert.equal(setting('[crio.runtime]\nenable_criu_support = "yes"\n', level('none')), 'none');
  });
});

describe('crioCheckpointRestore: the TOML it reads', () => {
  it('ignores comments: whole-line, indented, after a value, and # inside a string', () => {
    assert.equal(
      setting(
        '# [crio.checkpoint_restore]\n' +
          '[crio.checkpoint_restore] # the table\n' +
          '  # container_level_enabled = "none"\n' +
          'container_level_enabled = "checkpoint_restore" # allows restores\n',
      ),
      'checkpoint_restore',
    );
    assert.equal(
      setting('[crio.checkpoint_restore]\n#container_level_enabled = "checkpoint_restore"\n'),
      'checkpoint_only',
    );
    assert.equal(setting('[crio.runtime]\n# enable_criu_support = true\n'), 'checkpoint_only');
    refused(['[crio.checkpoint_restore]\ncontainer_level_enabled = "none # no"\n'], /"none # no"/);
  });

  it('reads literal strings, multi-line strings and escapes', () => {
    assert.equal(
      setting("[crio.checkpoint_restore]\ncontainer_level_enabled = 'checkpoint_restore'\n"),
      'checkpoint_restore',
    );
    assert.equal(
      setting('[crio.checkpoint_restore]\ncontainer_level_enabled = "checkpoint\\u005frestore"\n'),
      'checkpoint_restore',
    );
    assert.equal(setting('[crio.checkpoint_restore]\ncontainer_level_enabled = "\\U0000006eone"\n'), 'none');
    assert.equal(setting('[crio.checkpoint_restore]\ncontainer_level_enabled = """\nnone"""\n'), 'none');
    assert.equal(
      setting('[crio.checkpoint_restore]\ncontainer_level_enabled = """checkpoint_\\\n   restore"""\n'),
      'checkpoint_restore',
    );
    assert.equal(setting("[crio.checkpoint_restore]\ncontainer_level_enabled = '''\nnone'''\n"), 'none');
    refused(["[crio.checkpoint_restore]\ncontainer_level_enabled = 'none\n"], /= 'none is not/);
    refused(['[crio.checkpoint_restore]\ncontainer_level_enabled = "\\u12"\n'], /is not one of/);
    refused(['[crio.checkpoint_restore]\ncontainer_level_enabled = "\\UFFFFFFFF"\n'], /is not one of/);
    refused(['[crio.checkpoint_restore]\ncontainer_level_enabled = """none'], /is not one of/);
    refused(["[crio.checkpoint_restore]\ncontainer_level_enabled = '''none"], /is not one of/);
  });

  it('reads quoted and dotted keys and headers, with spaces around dots', () => {
    for (const t of [
      '[crio."checkpoint_restore"]\ncontainer_level_enabled = "none"\n',
      '[ \'crio\' . checkpoint_restore ]\n"container_level_enabled" = "none"\n',
      '[crio]\ncheckpoint_restore.container_level_enabled = "none"\n',
      'crio.checkpoint_restore.container_level_enabled = "none"\n',
      '[crio]\n"checkpoint_restore" . \'container_level_enabled\'="none"\n',
      '\uFEFF[crio.checkpoint_restore]\r\ncontainer_level_enabled = "none"\r\n',
      '[crio.checkpoint_restore]\n\tcontainer_level_enabled\t=\t"none"\t\n',
    ])
      assert.equal(setting(t), 'none', t);
    assert.equal(setting('[crio]\nruntime.enable_criu_support = true\n'), 'checkpoint_restore');
  });

  it('the keys count only in their own table', () => {
    for (const t of [
      '[crio.runtime]\ncontainer_level_enabled = "checkpoint_restore"\n',
      '[crio.checkpoint_restore.extra]\ncontainer_level_enabled = "checkpoint_restore"\n',
      '[crio.checkpoint_restore]\n[crio.image]\ncontainer_level_enabled = "checkpoint_restore"\n',
      'container_level_enabled = "checkpoint_restore"\n',
      '[crio.checkpoint_restore]\n[[crio.runtime.workloads]]\ncontainer_level_enabled = "checkpoint_restore"\n',
      '[crio."checkpoint_restore.container_level_enabled"]\n',
      '["crio.checkpoint_restore"]\ncontainer_level_enabled = "checkpoint_restore"\n',
      '[crio.checkpoint_restore]\n"container_level_enabled.x" = "checkpoint_restore"\n',
      '[crio.network]\nenable_criu_support = true\n',
    ])
      assert.equal(setting(t), 'checkpoint_only', t);
  });

  it('skips arrays and inline tables whole, across lines, with brackets, quotes and comments inside', () => {
    const crioConf =
      '[crio.runtime]\n' +
      'default_capabilities = [\n' +
      '\t"CHOWN",\n' +
      '\t"[crio.checkpoint_restore]", # a comment ] with a bracket\n' +
      '\t\'container_level_enabled = "none"\',\n' +
      '\t[ "nested", ["deeper"] ],\n' +
      '\t"""\n[crio.checkpoint_restore]\n""",\n' +
      "\t'''\ncontainer_level_enabled = \"none\"\n''',\n" +
      '\t"escaped \\" ] quote",\n' +
      ']\n' +
      'default_env = { a = "]", b = [1, 2] }\n' +
      'enable_criu_support = true\n';
    assert.equal(setting(crioConf), 'checkpoint_restore');
  });

  it('multi-line strings do not open tables or set keys', () => {
    assert.equal(
      setting('[crio]\nnote = """\n[crio.checkpoint_restore]\ncontainer_level_enabled = "none"\n"""\n'),
      'checkpoint_only',
    );
    assert.equal(
      setting("[crio]\nnote = '''\n[crio.runtime]\nenable_criu_support = false'''\n"),
      'checkpoint_only',
    );
    // a bad escape spoils the string, not the reading: the string still ends at its closing quotes
    assert.equal(
      setting('[crio]\nnote = """\\q\n[crio.runtime]\nenable_criu_support = false"""\n'),
      'checkpoint_only',
    );
  });

  it('skips what it cannot read and carries on', () => {
    assert.equal(
      setting(
        'garbage line\n= "no key"\n[unterminated\nkey "no equals"\n]\n"unterminated key = 1\n' +
          '[crio.checkpoint_restore]\ncontainer_level_enabled = "checkpoint_restore"\n',
      ),
      'checkpoint_restore',
    );
    // A broken header leaves the table as it was
    assert.equal(setting('[crio.checkpoint_restore]\n[broken\ncontainer_level_enabled = "none"\n'), 'none');
  });

  it('other values of other keys are skipped: numbers, dates, bare words', () => {
    assert.equal(
      setting(
        '[crio.runtime]\npids_limit = -1\nlog_size_max = 1_000\nstart = 1979-05-27T07:32:00Z\nx = inf\n' +
          'enable_criu_support = false\n',
      ),
      'none',
    );
  });

  it('a real crio.conf with the defaults commented out, and a drop-in', () => {
    const conf =
      '# The CRI-O configuration file specifies all of the available configuration\n' +
      '[crio]\n# root = "/var/lib/containers/storage"\n' +
      '[crio.runtime]\n# enable_criu_support = true\ndefault_runtime = "crun"\n' +
      'default_sysctls = [\n]\n' +
      '[crio.runtime.runtimes.crun]\nruntime_path = ""\nallowed_annotations = [\n\t"io.kubernetes.cri-o.Devices",\n]\n' +
      '[crio.checkpoint_restore]\n# container_level_enabled = "checkpoint_only"\n' +
      '[crio.image]\npause_image = "registry.k8s.io/pause:3.10"\n';
    assert.equal(crioCheckpointRestore([{ name: '/etc/crio/crio.conf', text: conf }]), 'checkpoint_only');
    assert.equal(
      crioCheckpointRestore([
        { name: '/etc/crio/crio.conf', text: conf },
        { name: '/etc/crio/crio.conf.d/10-checkpoint-restore.conf', text: level('checkpoint_restore') },
      ]),
      'checkpoint_restore',
    );
  });
});

describe('readToml', () => {
  it('keys by their full path, with their values and lines', () => {
    const keys = readToml('a = 1\n[t."x.y"]\nb = "s" # c\n\nc.d = true\n');
    assert.deepEqual([...keys.keys()], ['a', 't\0x.y\0b', 't\0x.y\0c\0d']);
    assert.deepEqual(keys.get('t\0x.y\0b'), { line: 3, value: { kind: 'string', value: 's', text: '"s"' } });
    assert.deepEqual(keys.get('t\0x.y\0c\0d'), {
      line: 5,
      value: { kind: 'boolean', value: true, text: 'true' },
    });
    assert.deepEqual(keys.get('a')?.value, { kind: 'other', text: '1' });
  });
});

describe('labelPatch', () => {
  it('patches only on a change: a new value, a first publication, or a value changed by hand', () => {
    assert.equal(labelPatch('checkpoint_restore', 'checkpoint_restore'), undefined);
    assert.equal(labelPatch('unknown', 'unknown'), undefined);
    for (const [cur, want] of [
      ['checkpoint_restore', 'checkpoint_only'],
      [undefined, 'checkpoint_restore'],
      ['yes', 'none'],
      ['checkpoint_restore', 'unknown'],
    ] as const)
      assert.deepEqual(labelPatch(cur, want), { metadata: { labels: { [CHECKPOINT_RESTORE_LABEL]: want } } });
    assert.equal(CHECKPOINT_RESTORE_LABEL, 'migration.dcnlab.com/checkpoint-restore');
  });
});

describe('readCrioCheckpointRestore', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  const hostRoot = (tree: Record<string, string | null>): string => {
    const root = mkdtempSync(join(tmpdir(), 'host-root-'));
    roots.push(root);
    for (const [p, text] of Object.entries(tree)) {
      if (text === null) mkdirSync(join(root, p), { recursive: true });
      else {
        mkdirSync(join(root, p, '..'), { recursive: true });
        writeFileSync(join(root, p), text);
      }
    }
    return root;
  };

  it('undefined without any CRI-O configuration: no /etc/crio, an empty one, or no .conf files', async () => {
    assert.equal(await readCrioCheckpointRestore(hostRoot({})), undefined);
    assert.equal(await readCrioCheckpointRestore(join(hostRoot({}), 'missing')), undefined);
    assert.equal(await readCrioCheckpointRestore(hostRoot({ 'etc/crio': null })), undefined);
    assert.equal(
      await readCrioCheckpointRestore(
        hostRoot({ 'etc/crio/crio.conf.d/README': 'x', 'etc/crio/crio.conf.d/a.conf.bak': level('none') }),
      ),
      undefined,
    );
    // a crio.conf.d that is a file, and a crio.conf that is a directory, are no configuration either
    assert.equal(
      await readCrioCheckpointRestore(hostRoot({ 'etc/crio/crio.conf.d': 'x', 'etc/crio/crio.conf': null })),
      undefined,
    );
  });

  it('crio.conf alone (the default when it sets nothing), drop-ins alone, both', async () => {
    assert.equal(
      await readCrioCheckpointRestore(hostRoot({ 'etc/crio/crio.conf': '[crio]\n' })),
      'checkpoint_only',
    );
    assert.equal(
      await readCrioCheckpointRestore(hostRoot({ 'etc/crio/crio.conf': legacy(true) })),
      'checkpoint_restore',
    );
    assert.equal(
      await readCrioCheckpointRestore(
        hostRoot({ 'etc/crio/crio.conf.d/10-checkpoint-restore.conf': level('checkpoint_restore') }),
      ),
      'checkpoint_restore',
    );
    assert.equal(
      await readCrioCheckpointRestore(
        hostRoot({
          'etc/crio/crio.conf': level('checkpoint_restore'),
          'etc/crio/crio.conf.d/50-x.conf': level('none'),
        }),
      ),
      'none',
    );
  });

  it('drop-ins in lexical order after crio.conf, .conf files only, directories skipped', async () => {
    const root = hostRoot({
      'etc/crio/crio.conf': level('none'),
      'etc/crio/crio.conf.d/10-a.conf': level('checkpoint_only'),
      'etc/crio/crio.conf.d/9-b.conf': level('checkpoint_restore'), // '9' sorts after '1'
      'etc/crio/crio.conf.d/99-c.conf.rpmsave': level('none'),
      'etc/crio/crio.conf.d/zz.conf': null,
    });
    assert.equal(await readCrioCheckpointRestore(root), 'checkpoint_restore');
    writeFileSync(join(root, 'etc/crio/crio.conf.d/50-c.conf'), level('checkpoint_only'));
    assert.equal(await readCrioCheckpointRestore(root), 'checkpoint_restore', '9-b.conf still sorts last');
    writeFileSync(join(root, 'etc/crio/crio.conf.d/Z.conf'), level('none'));
    assert.equal(
      await readCrioCheckpointRestore(root),
      'none',
      'byte order: Z.conf after 9-b.conf, before zz.conf',
    );
  });

  it('names a refused value by its path on the node', async () => {
    await assert.rejects(
      readCrioCheckpointRestore(hostRoot({ 'etc/crio/crio.conf.d/10-checkpoint-restore.conf': level('on') })),
      (err: unknown) =>
        err instanceof CrioConfigError &&
        err.message.startsWith('/etc/crio/crio.conf.d/10-checkpoint-restore.conf:2: ') &&
        !err.message.includes(tmpdir()),
    );
  });
});

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointFile, RunStatus } from '@stateful-migration/api';
import { readArchiveInfo } from '@stateful-migration/archive';
import type { Logger } from '@stateful-migration/kube';
import { adoptable, type AdoptInput, type FoundArchive } from './adopt.js';
import { confineArchive } from './confine.js';
import { CheckpointError } from './kubelet.js';
import { quote } from './plan.js';

/**
 * The checkpoint directory as the run's steps use it: every archive path, whether from the kubelet's answer or from
 * status, is judged by confineArchive before it is read, recorded or deleted, and the I/O uses the real path judged.
 */
export class ArchiveFiles {
  readonly #dir: string;
  readonly #log: Logger;

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** Whether a recorded archive is there to use (only a confined path exists for the agent). */
  exists(p: string): boolean {
    return confineArchive(this.#dir, p).ok;
  }

  /** Why a recorded archive may not be used (outside the directory, also through a link), or undefined. */
  refused(p: string): string | undefined {
    const c = confineArchive(this.#dir, p);
    return c.ok || c.missing ? undefined : c.why;
  }

  /**
   * The kubelet's answer names the archive it wrote; a path outside the checkpoint directory (or a link out of it)
   * is refused before it is recorded, read or deleted. So is one that does not exist here, which would otherwise
   * make the run checkpoint again and again.
   */
  checkKubeletAnswer(filePath: string, target: string): void {
    const dir = this.#dir;
    const c = confineArchive(dir, filePath);
    if (c.ok) return;
    throw c.missing
      ? new CheckpointError(
          'ArchiveMissing',
          `kubelet answered with archive ${quote(filePath)} for ${target}, which does not exist here: is --checkpoint-dir (${dir}) the kubelet's checkpoint directory, mounted at the same path?`,
          false,
        )
      : new CheckpointError(
          'ArchiveOutsideCheckpointDir',
          `kubelet answered with archive ${quote(filePath)} for ${target}, which ${c.why}: refused: not recorded, read or deleted (is --checkpoint-dir the kubelet's checkpoint directory?)`,
          false,
        );
  }

  /**
   * The path to read a recorded archive at (its real path, the one judged), or a CheckpointError: missing, or
   * refused as outside the checkpoint directory (plan() refuses those first; this holds if a link changed since).
   */
  forStep(f: CheckpointFile, step: string): string {
    const c = confineArchive(this.#dir, f.filePath);
    if (c.ok) return c.path;
    if (c.missing)
      throw new CheckpointError(
        'ArchiveMissing',
        `the archive of ${f.containerName} is gone before its ${step}`,
        true,
      );
    throw new CheckpointError(
      'ArchiveOutsideCheckpointDir',
      `status.checkpointFiles names archive ${quote(f.filePath)} for container ${f.containerName}, which ${c.why}: refused: not read, built, pushed or deleted`,
      true,
    );
  }

  /** Deletes a recorded archive, if it is one of the checkpoint directory's; a refused path is logged and kept. */
  remove(filePath: string): void {
    const c = confineArchive(this.#dir, filePath);
    // The recorded name is unlinked (a link inside stays a link); the check above resolved every part of it.
    if (c.ok) rmSync(filePath, { force: true });
    else if (!c.missing)
      this.#log.warn(
        { filePath, why: c.why },
        'not deleting an archive path outside the checkpoint directory',
      );
  }

  /**
   * An archive of this run that the kubelet wrote but the agent died before recording: found in the checkpoint
   * directory by reading the spec.dump of each archive written since the run started (file names are ambiguous),
   * and used instead of a second checkpoint only when `adoptable` can tell it is this run's own.
   */
  async unrecorded(
    run: RunStatus,
    container: string,
    pod: AdoptInput['pod'],
    claims: Pick<AdoptInput, 'claimed' | 'othersRunning'>,
  ): Promise<CheckpointFile | undefined> {
    const found = await this.#since(Date.parse(run.startedAt));
    if (!found) return undefined;
    const adopted = adoptable({
      found,
      container,
      pod,
      runStartedAt: run.startedAt,
      now: new Date(),
      ...claims,
    });
    if (!adopted) return undefined;
    this.#log.info(
      { container, filePath: adopted.filePath },
      'adopting an archive of this run that was not recorded',
    );
    return {
      containerName: container,
      filePath: adopted.filePath,
      checkpointTime: new Date(Date.parse(adopted.checkpointedTime || adopted.mtime)).toISOString(),
    };
  }

  /** The archives written since a time, read from their spec.dump; undefined when the directory cannot be read. */
  async #since(since: number): Promise<FoundArchive[] | undefined> {
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return undefined;
    }
    const found: FoundArchive[] = [];
    for (const name of names) {
      try {
        // A link that leads out of the checkpoint directory is not looked into (confine.ts).
        const c = confineArchive(this.#dir, join(this.#dir, name));
        if (!c.ok) continue;
        const st = statSync(c.path);
        if (!st.isFile() || st.mtimeMs < since) continue;
        const info = await readArchiveInfo(c.path);
        found.push({ ...info, filePath: c.path, mtime: st.mtime.toISOString() });
      } catch {
        // not an archive, or vanished meanwhile
      }
    }
    return found;
  }
}

import { RESTORE_PINNED_IMAGES_ANNOTATION } from '@stateful-migration/api';
import { isConflict, sleep, type RestClient } from '@stateful-migration/kube';

const split = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The pinned-images annotation with `images` added: sorted, each once. */
export function pin(current: string | undefined, images: string[]): string {
  return [...new Set([...split(current), ...images])].sort().join(',');
}

/** The annotation without `images`, except those another restore still uses. Undefined when nothing is left. */
export function unpin(
  current: string | undefined,
  images: string[],
  stillUsed: string[],
): string | undefined {
  const drop = new Set(images.filter((i) => !stillUsed.includes(i)));
  const left = split(current).filter((i) => !drop.has(i));
  return left.length ? left.join(',') : undefined;
}

/**
 * Rewrites the restore pins on a backup with optimistic concurrency: read, edit, and merge-patch with the
 * resourceVersion read, so that a concurrent change (another restore of the same backup pinning or unpinning, a
 * user's edit) makes the apiserver answer 409 and the edit is made again on what it wrote, never over it. Two
 * restores of one backup thus both keep their pins.
 */
export async function editPins(
  client: RestClient,
  backupPath: string,
  edit: (current: string | undefined) => string | undefined,
  attempts = 8,
): Promise<void> {
  for (let i = 1; ; i++) {
    const b = await client.get<{
      metadata: { resourceVersion?: string; annotations?: Record<string, string> };
    }>(backupPath);
    const cur = b.metadata.annotations?.[RESTORE_PINNED_IMAGES_ANNOTATION];
    const next = edit(cur);
    if (next === cur) return;
    try {
      await client.request('PATCH', backupPath, {
        body: {
          metadata: {
            resourceVersion: b.metadata.resourceVersion,
            annotations: { [RESTORE_PINNED_IMAGES_ANNOTATION]: next ?? null },
          },
        },
      });
      return;
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
      await sleep(Math.min(1000, 20 * 2 ** i) * (0.5 + Math.random()));
    }
  }
}

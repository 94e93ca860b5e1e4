import type { BuiltImage, CheckpointBackupStatus } from './checkpoint-backup.js';

/**
 * How many builtImages entries of one container stay in status: the newest. Every run appends one per container,
 * and with unlimited retention nothing else removes them, while an object (with the hub's copy per cluster, and
 * Karmada's copy in the ResourceBinding) must stay below etcd's 1.5 MiB. An entry is about 250 bytes, so 100 per
 * container is some 25 KiB; a hub object of a 4-container pod in 3 clusters stays near 300 KiB. Dropping an entry
 * deletes nothing: the image stays in the registry (or the node's storage) until retention removes it, and a restore
 * can name it by digest.
 */
export const MAX_BUILT_IMAGES_PER_CONTAINER = 100;

/**
 * The newest `max` entries of each container (by position: the agent appends, so the newest run is last; nodes'
 * clocks may differ, buildTime is not compared), in their order, plus every entry named in `keep` (the run in
 * progress, which its push step still needs). Pure.
 */
export function boundBuiltImages(
  images: readonly BuiltImage[],
  o: { max?: number; keep?: ReadonlySet<string> } = {},
): { images: BuiltImage[]; dropped: number } {
  const max = o.max ?? MAX_BUILT_IMAGES_PER_CONTAINER;
  const seen = new Map<string, number>();
  const kept: BuiltImage[] = [];
  for (let i = images.length - 1; i >= 0; i--) {
    const img = images[i]!;
    const n = (seen.get(img.containerName) ?? 0) + 1;
    seen.set(img.containerName, n);
    if (n <= max || o.keep?.has(img.imageName)) kept.push(img);
  }
  kept.reverse();
  return { images: kept, dropped: images.length - kept.length };
}

/**
 * The status fields for a new builtImages list: bounded, with builtImagesDropped counting every entry that ever
 * left status this way (not those retention deleted: their images are gone).
 */
export function withBuiltImages(
  s: Pick<CheckpointBackupStatus, 'builtImagesDropped'>,
  images: readonly BuiltImage[],
  keep?: ReadonlySet<string>,
  max?: number,
): Pick<CheckpointBackupStatus, 'builtImages' | 'builtImagesDropped'> {
  const b = boundBuiltImages(images, { ...(keep ? { keep } : {}), ...(max !== undefined ? { max } : {}) });
  const dropped = (s.builtImagesDropped ?? 0) + b.dropped;
  return { builtImages: b.images, ...(dropped ? { builtImagesDropped: dropped } : {}) };
}

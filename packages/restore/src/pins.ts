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

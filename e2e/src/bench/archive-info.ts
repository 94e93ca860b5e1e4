// pnpm bench archive-info: identifying a checkpoint archive (what retention does to every file of the checkpoint
// directory) by seeking past the memory pages, against streaming the archive as before and a plain read, same run.
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArchiveInfo, readTar, writeArchive } from '@stateful-migration/archive';

const MiB = 1024 * 1024;
const sizes = (process.env.BENCH_SIZES ?? '64,256,1024').split(',').map(Number);
const rounds = 5;
const work = mkdtempSync(join(tmpdir(), 'bench-archive-info-'));

/** Median of `rounds` runs, in ms. */
async function median(fn: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
}

const plainRead = async (path: string) => {
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) void chunk;
};
/** The previous readArchiveInfo: stream the whole tar, keep the two dump files. */
const streamed = (path: string) =>
  readTar(
    createReadStream(path),
    (e) => e.name === 'spec.dump' || e.name === 'config.dump',
    () => undefined,
  );

console.log(
  '| archive | plain read ms | streamed (before) ms | seeking readArchiveInfo ms | before/seeking |',
);
console.log(
  '| ------- | ------------- | -------------------- | -------------------------- | -------------- |',
);
try {
  for (const size of sizes) {
    const path = join(work, `${size}.tar`);
    await writeArchive(path, {
      containerName: 'app',
      podName: 'bench',
      namespace: 'bench',
      rootfsImageName: 'registry.local/app:1',
      memoryBytes: size * MiB,
    });
    const plain = await median(() => plainRead(path));
    const before = await median(() => streamed(path));
    const seeking = await median(() => readArchiveInfo(path));
    console.log(
      `| ${size} MiB | ${plain.toFixed(1)} | ${before.toFixed(1)} | ${seeking.toFixed(2)} | ${(before / seeking).toFixed(0)} |`,
    );
    rmSync(path);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

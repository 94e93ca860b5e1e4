export { readArchiveInfo, writeArchive, type ArchiveInfo, type WriteArchiveOptions } from './archive.js';
export { readTar, type TarEntry } from './tar.js';

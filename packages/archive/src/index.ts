export { readArchiveInfo, writeArchive, type ArchiveInfo, type WriteArchiveOptions } from './archive.js';
export { readTar, scanTarFile, type TarEntry } from './tar.js';

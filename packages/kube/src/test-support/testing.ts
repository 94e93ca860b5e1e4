/** Helpers for tests (against the local federation, or a loopback fake apiserver); not part of the runtime API. */
export { eventually, unique } from './fed.js';
export { TcpProxy } from './tcp-proxy.js';
export { FakeApiserver, loopbackCert, type FakeReply, type FakeRequest } from './fake-apiserver.js';
export { MemoryApi, type MemoryCall, type MemoryRoute } from './memory-api.js';
export { httpsCall } from './https-call.js';
export { tempDir } from './temp-dir.js';

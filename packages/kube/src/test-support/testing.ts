/** Helpers for tests against the local federation; not part of the runtime API. */
export { eventually, unique } from './fed.js';
export { TcpProxy } from './tcp-proxy.js';

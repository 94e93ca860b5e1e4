export { Backoff } from './backoff.js';
export { systemClock, sleep, type Clock } from './clock.js';
export {
  TerminalError,
  statusCode,
  isNotFound,
  isConflict,
  isAlreadyExists,
  describeError,
} from './errors.js';
export {
  Informer,
  restListWatch,
  type InformerOptions,
  type InformerEvent,
  type InformerHandler,
  type ListWatch,
  type Selectors,
} from './informer.js';
export { addFinalizer, releaseFinalizers } from './finalizers.js';
export { LeaderElector, microTime, type LeaderElectionOptions } from './leader.js';
export { rootLogger, redactPaths, type Logger } from './log.js';
export { deleteIfExists, getOrUndefined } from './not-found.js';
export { OwnWrites } from './own-writes.js';
export { fresher, objectKey, splitKey, type KubeObject, type KubeList, type ObjectMeta } from './object.js';
export {
  RestClient,
  requestKind,
  HttpError,
  DEFAULT_TIMEOUT_MS,
  type ApiClient,
  type CallOptions,
  type GetOptions,
  type Query,
  type RequestOptions,
  type WatchEvent,
} from './rest.js';
export { writeStatus, type StatusWriteOptions } from './status.js';
export { WorkQueue, type Reconcile, type Result, type WorkQueueOptions } from './workqueue.js';
export { EventRecorder, type EventType } from './events.js';
export { serveHealth, type HealthServerOptions } from './serve.js';
export {
  crashInjection,
  CRASH_AFTER_ENV,
  CRASH_MARKER_ENV,
  CRASH_EXIT_CODE,
  type CrashInjection,
} from './fault.js';

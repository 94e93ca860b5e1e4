export * from './gate.js';
export * from './replacement.js';
export * from './objects.js';
export * from './webhooks.js';

export * from './gate.js';
export * from './replacement.js';

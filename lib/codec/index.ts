export * from './codec.js';
export * from './fields.js';

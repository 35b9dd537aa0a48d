export * from './api.js';
export * from './notification.js';
export * from './user.js';

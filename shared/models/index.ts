export * from './api.js';
export * from './issues.js';
export * from './notification.js';
export * from './user.js';

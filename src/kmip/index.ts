export * from './api';
export * from './client';
export * from './errors';
export * from './messages';
export * from './tags';
export * from './ttlv';

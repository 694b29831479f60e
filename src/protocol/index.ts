export * from './content-header.js';
export * from './field-table.js';
export * from './frame-parser.js';
export * from './frame-writer.js';
export * from './properties.js';
export * from './protocol-error.js';
export * from './spec.js';

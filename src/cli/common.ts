/** What every command shares, in one import: options, inputs, output and exit codes. */
export * from './options.js';
export * from './inputs.js';
export * from './output.js';
export * from './exit.js';

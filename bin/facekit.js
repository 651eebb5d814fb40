#!/usr/bin/env node
// Entry point: the compiled program lives in dist/ (built by `npm run build`, run by `npm ci`).
import '../dist/main.js';

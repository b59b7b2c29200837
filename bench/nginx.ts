// Moved to src/bench/nginx.ts (compiled into dist/ for `sluice bench`); kept for bench/baseline/ scripts.
export * from '../src/bench/nginx.js'

// Moved to src/bench/loadgen.ts (compiled into dist/ for `sluice bench`); kept for bench/baseline/ scripts.
export * from '../src/bench/loadgen.js'

// Moved to src/bench/cpu.ts (compiled into dist/ for `sluice bench`); kept for bench/baseline/ scripts.
export * from '../src/bench/cpu.js'

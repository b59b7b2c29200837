// Micro-benchmark for normalizePath (src/worker/normalize.ts): ns per call on the fast path (an
// already-normal path, returned as is) and on paths that need a rebuild, against two baselines (a bare
// charCode loop over the path, and a regex pre-check for "needs work"), plus the number of garbage
// collections during the timed loop as evidence that the fast path does not allocate.
// Run: node --import tsx bench/micro/normalize.ts
//
// Results (node 20.20, 2-vCPU AMD EPYC VM shared with other jobs, 2026-11-25, three runs; absolute numbers
// drifted ~2x with load, so read the ratios): fast path 95-145 ns for 26 chars and 220-410 ns for 71
// chars, 1.1-1.8x a bare charCode loop over the same string and never slower than the regex pre-check;
// 0 GCs over 3M calls (no allocation). Paths needing a rebuild: 260-650 ns, and they allocate.
import { PerformanceObserver } from 'node:perf_hooks'
import { normalizePath } from '../../src/worker/normalize.js'

const CASES: Array<[string, string]> = [
  ['normal, 26 chars', '/api/v1/users/12345/orders'],
  ['normal, 71 chars', '/api/v2/catalog/products/sku-000123/variants/blue-large/images/main.jpg'],
  ['dot-segment', '/api/v1/users/../orders/./7'],
  ['double slash', '/api//v1/users//7'],
  ['%2e escape', '/api/v1/%2e%2e/admin'],
]

const ITER = 3_000_000
let gcs = 0
new PerformanceObserver((list) => {
  gcs += list.getEntries().length
}).observe({ entryTypes: ['gc'] })

function bareLoop(s: string): number {
  let x = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20) return -1
    x ^= c
  }
  return x
}
// eslint-disable-next-line no-control-regex -- the control range is the point of the check
const NEEDS_WORK = /[\x00-\x1f\x7f%\\]|\/\/|\/\.\.?(?:[/\\]|$)/

async function run(fn: (s: string) => number, path: string): Promise<{ ns: number; gcs: number }> {
  // Distinct flat string objects (JSON round trip), so V8 cannot specialise on one constant input.
  const inputs = [path, JSON.parse(JSON.stringify(path)), JSON.parse(JSON.stringify(path)), JSON.parse(JSON.stringify(path))]
  let sink = 0
  for (let i = 0; i < 300_000; i++) sink += fn(inputs[i & 3]) // warm-up (JIT)
  await new Promise((r) => setTimeout(r, 10)) // let pending gc entries arrive before counting
  const gc0 = gcs
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < ITER; i++) sink += fn(inputs[i & 3])
  const t1 = process.hrtime.bigint()
  await new Promise((r) => setTimeout(r, 10))
  if (sink === 42) console.log('')
  return { ns: Number(t1 - t0) / ITER, gcs: gcs - gc0 }
}

const normalizeLen = (s: string): number => normalizePath(s)!.length
const regexCheck = (s: string): number => (NEEDS_WORK.test(s) ? 1 : 0)

console.log(`node ${process.version}, ${ITER} calls per case, best of 3`)
for (const [name, path] of CASES) {
  for (const [label, fn] of [['normalizePath', normalizeLen], ['bare loop', bareLoop], ['regex check', regexCheck]] as const) {
    if (label !== 'normalizePath' && !name.startsWith('normal')) continue
    const runs = [await run(fn, path), await run(fn, path), await run(fn, path)]
    const best = runs.sort((a, b) => a.ns - b.ns)[0]
    console.log(`${name.padEnd(17)} ${label.padEnd(14)} ${best.ns.toFixed(1).padStart(6)} ns/call  ${String(best.gcs).padStart(3)} GCs  ${path}`)
  }
}

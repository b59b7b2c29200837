// Moved to src/bench/upstream.ts (compiled into dist/ for `sluice bench`); this wrapper keeps
// `node --import tsx bench/upstream.ts --port N` (used by bench/baseline/) working.
import { pathToFileURL } from 'node:url'
import { upstreamMain } from '../src/bench/upstream.js'

export * from '../src/bench/upstream.js'

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) upstreamMain()

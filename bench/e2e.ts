// Moved to src/bench/e2e.ts; `sluice bench` is the product command. This wrapper keeps
// `node --import tsx bench/e2e.ts [...]` (the single-path overhead run against nginx) working.
import { pathToFileURL } from 'node:url'
import { e2eMain } from '../src/bench/e2e.js'

export * from '../src/bench/e2e.js'

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) e2eMain()

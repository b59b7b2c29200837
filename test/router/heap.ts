// Allocation measurement shared by the router's allocation test and bench/micro/router.ts.
import v8 from 'node:v8'
import vm from 'node:vm'

/**
 * Young-generation bytes in use. Lookups allocate there; the old generation's concurrent sweeping
 * (which makes heapUsed drift downwards after a GC, a lot on a loaded machine) doesn't touch it.
 */
export function newSpaceUsed(): number {
  let used = 0
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') used += space.space_used_size
  }
  return used
}

/** A full GC, with or without --expose-gc on the command line. */
export function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) return g
  v8.setFlagsFromString('--expose-gc')
  return vm.runInNewContext('gc') as () => void
}

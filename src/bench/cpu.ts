// CPU time and memory of a process tree, read from /proc (Linux only).
//
// A gateway is a tree (cluster primary + workers, nginx master + worker), so its cost per request is
// the sum over the tree. Sampled as a delta around a fixed-rate window: µs of CPU per request.
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

let clockTicks = 0

/** `getconf CLK_TCK`, read once: /proc reports utime and stime in these ticks. */
export function clockTicksPerSecond(): number {
  if (clockTicks === 0) {
    const raw = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()
    const ticks = Number(raw)
    if (!Number.isInteger(ticks) || ticks <= 0) throw new Error(`getconf CLK_TCK gave ${JSON.stringify(raw)}`)
    clockTicks = ticks
  }
  return clockTicks
}

export interface ProcStat {
  readonly pid: number
  readonly comm: string
  readonly ppid: number
  /** utime + stime in clock ticks, all threads of the process. */
  readonly ticks: number
}

/** Parses `/proc/<pid>/stat`; null when the process is gone. */
export function readStat(pid: number): ProcStat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1')
  } catch {
    return null
  }
  // comm (field 2) may hold spaces and parentheses: split after the LAST ')'.
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const rest = text.slice(close + 2).split(' ')
  // rest[0] is field 3 (state): field N is rest[N - 3].
  const ppid = Number(rest[1])
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  return { pid, comm, ppid, ticks: utime + stime }
}

function allStats(): ProcStat[] {
  const stats: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue
    const stat = readStat(Number(name))
    if (stat !== null) stats.push(stat)
  }
  return stats
}

/**
 * The pid and all its live descendants, with their stats. One pass over /proc, then ppid links:
 * `/proc/<pid>/task/<tid>/children` needs CONFIG_PROC_CHILDREN, which not every kernel has.
 */
export function processTree(rootPid: number): ProcStat[] {
  const stats = allStats()
  const byParent = new Map<number, ProcStat[]>()
  let root: ProcStat | null = null
  for (const s of stats) {
    if (s.pid === rootPid) root = s
    const siblings = byParent.get(s.ppid)
    if (siblings === undefined) byParent.set(s.ppid, [s])
    else siblings.push(s)
  }
  if (root === null) return []
  const tree: ProcStat[] = [root]
  for (let i = 0; i < tree.length; i++) {
    const children = byParent.get(tree[i].pid)
    if (children !== undefined) tree.push(...children)
  }
  return tree
}

/**
 * CPU seconds (user + system) used so far by the process tree rooted at `rootPid`.
 * Children that exited and were reaped inside the window are not counted (their time moves to the
 * parent's cutime, which also holds long-dead children): keep the tree stable during a measurement.
 */
export function cpuOf(rootPid: number): number {
  let ticks = 0
  for (const s of processTree(rootPid)) ticks += s.ticks
  return ticks / clockTicksPerSecond()
}

/** Resident set size of one process in bytes (VmRSS); 0 when gone or a kernel thread. */
export function rssOf(pid: number): number {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1')
  } catch {
    return 0
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  return m === null ? 0 : Number(m[1]) * 1024
}

export interface ProcessRss {
  readonly pid: number
  readonly comm: string
  readonly rssBytes: number
}

export interface TreeRss {
  readonly totalBytes: number
  readonly processes: ProcessRss[]
}

/** RSS per process of the tree and their sum (shared pages count once per process, as `ps` does). */
export function treeRss(rootPid: number): TreeRss {
  const processes = processTree(rootPid).map((s) => ({ pid: s.pid, comm: s.comm, rssBytes: rssOf(s.pid) }))
  let totalBytes = 0
  for (const p of processes) totalBytes += p.rssBytes
  return { totalBytes, processes }
}

/** Sum of `/proc/<pid>/task/<tid>/schedstat` run times (ns) over the process's threads; null when unreadable. */
function runNsOf(pid: number): number | null {
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return null
  }
  let ns = 0
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1')
      ns += Number(text.slice(0, text.indexOf(' ')))
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return ns
}

let schedstatWorks: boolean | null = null

/**
 * CPU seconds of the process tree like cpuOf(), at nanosecond resolution: the scheduler's run time
 * per thread (`schedstat`, CONFIG_SCHED_INFO) instead of utime + stime in clock ticks. At 100 ticks
 * per second a 1 s window at 1,000 req/s resolves CPU only to 10 µs per request, which is the whole
 * cost of a fast upstream; falls back to cpuOf() where schedstat is missing.
 */
export function cpuPreciseOf(rootPid: number): number {
  if (schedstatWorks === null) schedstatWorks = runNsOf(process.pid) !== null
  if (!schedstatWorks) return cpuOf(rootPid)
  let ns = 0
  for (const s of processTree(rootPid)) ns += runNsOf(s.pid) ?? 0
  return ns / 1e9
}

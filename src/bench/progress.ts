// The progress bar of `sluice bench` / `sluice tune`, on stderr so stdout keeps only the report:
// one redrawn line on a terminal, plain lines otherwise (CI logs, pipes).

export interface Progress {
  /** A measurement step begins (advances the bar). */
  step(label: string): void
  /** A line of information that does not advance the bar (a result, a start-up). */
  note(line: string): void
  /** More steps than planned (the compare gate adds rounds). */
  grow(steps: number): void
  /** Clears the bar. */
  done(): void
}

export interface ProgressStream {
  readonly isTTY?: boolean
  readonly columns?: number
  write(chunk: string): boolean
}

const WIDTH = 24

export function createProgress(total: number, stream: ProgressStream = process.stderr): Progress {
  let planned = Math.max(1, total)
  let current = 0
  let label = ''
  const started = Date.now()
  const tty = stream.isTTY === true
  const bar = (): string => {
    const fraction = Math.min(1, current / planned)
    const filled = Math.round(fraction * WIDTH)
    const elapsed = Math.round((Date.now() - started) / 1000)
    return `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}% ${elapsed}s ${label}`
  }
  const redraw = (): void => {
    const columns = stream.columns ?? 100
    stream.write(`\r\x1b[K${bar().slice(0, Math.max(20, columns - 1))}`)
  }
  return {
    step(next: string): void {
      current++
      label = next
      if (tty) redraw()
      else stream.write(`[${current}/${planned}] ${next}\n`)
    },
    note(line: string): void {
      if (tty) {
        stream.write(`\r\x1b[K${line}\n`)
        redraw()
      } else stream.write(`  ${line}\n`)
    },
    grow(steps: number): void {
      planned += steps
    },
    done(): void {
      if (tty) stream.write('\r\x1b[K')
    },
  }
}

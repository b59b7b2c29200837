import { pino } from 'pino'

/** Operational log (start-up, reloads, failures): pino, JSON on stderr so stdout stays the access log's. */
export const logger = pino(
  { base: { pid: process.pid }, level: process.env.SLUICE_LOG_LEVEL ?? 'info' },
  pino.destination({ dest: 2, sync: true }),
)

import { parseArgs } from 'node:util'
import { hashPassword } from '../../auth/password.js'

const USAGE = `Usage: sluice hash-password [--password-stdin]
  Reads a password from stdin (piped or --password-stdin: to its end; else typed without echo) and prints its scrypt hash
  for a basic-auth credential's password_hash, so the config file holds no password:
    printf '%s' "$PASSWORD" | sluice hash-password`

/** `sluice hash-password`: the password never appears in argv (ps, shell history). */
export async function hashPasswordCommand(args: string[]): Promise<number> {
  let values: { 'password-stdin'?: boolean; help?: boolean }
  try {
    values = parseArgs({ args, options: { 'password-stdin': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values
  } catch (err) {
    process.stderr.write(`sluice hash-password: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  // --password-stdin (docker login's flag) reads stdin to its end even from a terminal: no prompt.
  const prompt = process.stdin.isTTY && values['password-stdin'] !== true
  const password = prompt ? await promptWithoutEcho('Password: ') : stripNewline(await readAll())
  if (password.length === 0) {
    process.stderr.write('sluice hash-password: empty password\n')
    return 1
  }
  process.stdout.write(hashPassword(password) + '\n')
  return 0
}

/** One trailing newline is what `echo` and here-strings add, not part of the password. */
function stripNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2)
  if (s.endsWith('\n')) return s.slice(0, -1)
  return s
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C and Ctrl-D give up. */
function promptWithoutEcho(prompt: string): Promise<string> {
  process.stderr.write(prompt)
  const stdin = process.stdin
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  return new Promise((resolve) => {
    let typed = ''
    const done = (value: string): void => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
      resolve(value)
    }
    const onData = (data: string): void => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n') return done(typed)
        if (ch === '\u0003' || ch === '\u0004') return done('')
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1)
        else typed += ch
      }
    }
    stdin.on('data', onData)
    stdin.resume()
  })
}

import { readFileSync } from 'node:fs'
import * as assert from 'uvu/assert'

/** Runs `fn`, expecting an XRPC error with this status and error name; returns the error. */
export async function expectXrpcError(
  fn: () => Promise<unknown>,
  status: number,
  error: string,
): Promise<{ status: number; error: string; message: string }> {
  let caught: any
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught, `expected ${status} ${error}, but the call succeeded`)
  assert.is(caught.error, error, `error name (message: ${caught.message})`)
  assert.is(caught.status, status, `status for ${error}`)
  return { status: caught.status, error: caught.error, message: caught.message }
}

export function readFixtureLines(path: string): string[] {
  // lines that are blank or start with '#' are comments in the interop fixtures
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l: string) => l.length > 0 && !l.startsWith('#'))
}

// The CLI's progress bar: drawn on stderr only when it is enabled (a terminal), never otherwise.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Progress } from '../src/cli/progress.ts'

function captureStderr(fn: () => void): string {
  const write = process.stderr.write
  let out = ''
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString()
    return true
  }) as typeof process.stderr.write
  try {
    fn()
  } finally {
    process.stderr.write = write
  }
  return out
}

test('enabled: a bar with the count, redrawn in place, ended by a newline', () => {
  const out = captureStderr(() => {
    const p = new Progress('db check', 4, true)
    p.update(0, 'did:plc:a')
    p.update(4)
    p.done()
  })
  assert.match(out, /^\rdb check \[-{30}\] 0\/4 did:plc:a/)
  assert.match(out, /\rdb check \[#{30}\] 4\/4/)
  assert.ok(out.endsWith('\n'))
})

test('disabled (not a terminal, or nothing to do): nothing written', () => {
  const out = captureStderr(() => {
    const off = new Progress('db check', 4, false)
    off.update(2)
    off.done()
    const empty = new Progress('db check', 0, true)
    empty.update(0)
    empty.done()
  })
  assert.is(out, '')
})

test.run()

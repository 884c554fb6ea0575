// `carrel <command>`: the operator's tool (src/cli/main.ts). No top-level await: the compiled CLI
// is a CommonJS bundle (scripts/build.mjs).
import { main } from './main.js'

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`carrel: ${(err as Error)?.message ?? String(err)}\n`)
    process.exitCode = 1
  },
)

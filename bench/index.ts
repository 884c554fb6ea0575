// npm run bench -- <name> [more names]: runs bench/<name>.ts; every bench/*.ts but index.ts and
// the _helpers is one
import { readdirSync } from 'node:fs'

const available = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_') && f !== 'index.ts')
  .map((f) => f.slice(0, -'.ts'.length))
  .sort()
const names = process.argv.slice(2)
if (names.length === 0 || names.some((n) => !available.includes(n))) {
  console.error(`usage: npm run bench -- ${available.join('|')}`)
  process.exit(2)
}
for (const name of names) {
  const mod = (await import(`./${name}.ts`)) as { default: () => Promise<void> }
  await mod.default()
}
process.exit(0)

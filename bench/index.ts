// npm run bench -- <name> [more names]: runs bench/<name>.ts (writes, export, firehose, dag-cbor, record-formats,
// export-stall, big-responses, startup, sync, library, updates)
const names = process.argv.slice(2)
if (names.length === 0) {
  console.error('usage: npm run bench -- writes|export|firehose|dag-cbor|record-formats|export-stall|big-responses|startup|sync|library|updates')
  process.exit(2)
}
for (const name of names) {
  if (!/^[a-z-]+$/.test(name)) throw new Error(`bad bench name: ${name}`)
  const mod = (await import(`./${name}.ts`)) as { default: () => Promise<void> }
  await mod.default()
}
process.exit(0)

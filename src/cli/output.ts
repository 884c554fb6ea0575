/** Where a command writes its result: a table or lines for people, or one JSON document with `--json`. */
export class Output {
  constructor(readonly json: boolean) {}

  /** The command's result: `value` as JSON, or `human()`'s lines. */
  result(value: unknown, human: () => string | string[]): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(value, null, 2) + '\n')
      return
    }
    const text = human()
    const lines = Array.isArray(text) ? text : [text]
    if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n')
  }
}

/** Columns padded to their widest cell. */
export function table(header: string[], rows: (string | number | undefined)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === undefined ? '' : String(c))))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  )
}

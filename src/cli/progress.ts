/**
 * A progress bar on stderr when stderr is a terminal (nothing otherwise, so logs and scripts get
 * no control characters). Redrawn at most every 100 ms.
 */
export class Progress {
  private last = 0
  private readonly enabled: boolean

  constructor(
    private label: string,
    private total: number,
    enabled = process.stderr.isTTY === true,
  ) {
    this.enabled = enabled && total > 0
  }

  update(done: number, detail = ''): void {
    if (!this.enabled) return
    const now = Date.now()
    if (done < this.total && now - this.last < 100) return
    this.last = now
    const width = 30
    const filled = Math.round((done / this.total) * width)
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled)
    const line = `${this.label} [${bar}] ${done}/${this.total} ${detail}`
    const columns = process.stderr.columns ?? 100
    process.stderr.write('\r' + line.slice(0, columns - 1).padEnd(columns - 1))
  }

  done(): void {
    if (this.enabled) process.stderr.write('\n')
  }
}

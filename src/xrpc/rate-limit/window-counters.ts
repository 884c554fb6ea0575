/** One key's count in its current window. */
export type Window = { used: number; resetAt: number }

/**
 * Points used per key in fixed windows (the first charge opens a window of `windowMs`, as
 * rate-limiter-flexible counts), in memory, for at most `maxKeys` keys. Keys sit in the order
 * they were last charged; a new key past the bound pushes out the least recently charged one.
 * Pushing a key out only forgets what it used, so the bound can make a limit looser for a
 * client that keys are rotated past, never refuse anyone: a client rotating its address already
 * gets a fresh budget with each one. (rate-limiter-flexible's memory store keeps every key, and
 * a timer for each, until its window ends: an address-rotation burst would grow it unbounded.)
 */
export class WindowCounters {
  private windows = new Map<string, Window>()

  constructor(
    readonly windowMs: number,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.windows.size
  }

  /** What `key` has used in its window running at `now` (0, and a window from now, if none). */
  read(key: string, now: number): Window {
    const w = this.windows.get(key)
    if (w === undefined || w.resetAt <= now) return { used: 0, resetAt: now + this.windowMs }
    return { used: w.used, resetAt: w.resetAt }
  }

  charge(key: string, points: number, now: number): void {
    const w = this.windows.get(key)
    this.windows.delete(key)
    if (w !== undefined && w.resetAt > now) {
      w.used += points
      this.windows.set(key, w)
      return
    }
    this.dropStale(now)
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!)
    this.windows.set(key, { used: points, resetAt: now + this.windowMs })
  }

  /** Forgets a few ended windows at the front, so an idle server's map shrinks as it is used. */
  private dropStale(now: number): void {
    for (let i = 0; i < 2; i++) {
      const first = this.windows.entries().next()
      if (first.done || first.value[1].resetAt > now) return
      this.windows.delete(first.value[0])
    }
  }
}

/**
 * Runs async work one at a time per key (a DID), in the order it was asked for; a failure does
 * not block the next. A key's entry goes once its queue is empty, so memory follows the keys in use.
 */
export class KeyedLock {
  private tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return run
  }
}

/** Thrown when no slot frees up in time, or too many callers already wait for one. */
export class FlightLimitError extends Error {}

export type FlightLimits = {
  /** flights running at once */
  maxConcurrent: number
  /** callers waiting for a slot; one more is refused at once */
  maxWaiting: number
  /** how long a caller waits for a slot before it is refused */
  maxWaitMs: number
}

/**
 * Bounds concurrent outbound work: at most `maxConcurrent` flights at once, a bounded queue
 * with a bounded wait behind them, and callers asking for the same key while its flight is
 * queued or running share that flight.
 */
export class FlightLimiter<T> {
  private flights = new Map<string, Promise<T>>()
  private running = 0
  private queue: (() => void)[] = []

  constructor(private limits: FlightLimits) {}

  get active(): number {
    return this.running
  }

  run(key: string, work: () => Promise<T>): Promise<T> {
    const shared = this.flights.get(key)
    if (shared) return shared
    const flight = this.slot().then(async () => {
      try {
        return await work()
      } finally {
        this.release()
      }
    })
    this.flights.set(key, flight)
    const forget = () => {
      if (this.flights.get(key) === flight) this.flights.delete(key)
    }
    flight.then(forget, forget)
    return flight
  }

  private slot(): Promise<void> {
    if (this.running < this.limits.maxConcurrent) {
      this.running++
      return Promise.resolve()
    }
    if (this.queue.length >= this.limits.maxWaiting) {
      return Promise.reject(new FlightLimitError('too many outbound lookups waiting'))
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer)
        this.running++
        resolve()
      }
      const timer = setTimeout(() => {
        this.queue.splice(this.queue.indexOf(grant), 1)
        reject(new FlightLimitError('no outbound lookup slot free in time'))
      }, this.limits.maxWaitMs)
      this.queue.push(grant)
    })
  }

  private release(): void {
    this.running--
    this.queue.shift()?.()
  }
}

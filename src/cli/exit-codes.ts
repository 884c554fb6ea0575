/** The CLI's exit codes (documented in DEVELOPERS.md "CLI"; scripts rely on them). */
export const EXIT = {
  /** done */
  ok: 0,
  /** the operation failed: the server or the data directory refused it (not found, invalid, ...) */
  failed: 1,
  /** the command line is wrong: unknown command or option, missing argument */
  usage: 2,
  /** the command ran and found problems: `db check` faults, `relay status` accounts behind */
  problems: 3,
  /** where the command must run is not available: no server answers, the data directory is in use or missing */
  unavailable: 4,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** A failure the CLI reports as one line on stderr (no stack trace) and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: ExitCode = EXIT.failed,
    /** the XRPC error name when the server answered one */
    readonly error?: string,
  ) {
    super(message)
  }
}

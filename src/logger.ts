import { pino, type Logger } from 'pino'

export type { Logger }

// Never log request bodies, passwords, tokens or keys: the redaction list is the last guard.
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'carrel' },
    redact: {
      paths: ['req.headers.authorization', 'password', '*.password', '*.accessJwt', '*.refreshJwt'],
      censor: '[redacted]',
    },
  })
}

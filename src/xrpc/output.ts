import type { ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { lexToJson, type LexValue } from '@atproto/lexicon'
import type { HandlerOutput } from './types.js'

const JSON_TYPE = 'application/json; charset=utf-8'

/** Writes a handler's output: nothing, JSON (lex values converted), bytes or a stream. */
export async function writeOutput(res: ServerResponse, output: HandlerOutput): Promise<void> {
  res.statusCode = 200
  if (!output) {
    res.end()
    return
  }
  if (output.headers) for (const [name, value] of Object.entries(output.headers)) if (value != null) res.setHeader(name, value)
  if (output.buffer !== undefined) {
    res.setHeader('Content-Type', output.encoding)
    res.end(output.buffer)
  } else if (output.stream !== undefined) {
    res.setHeader('Content-Type', output.encoding)
    try {
      await pipeline(output.stream, res)
    } catch (err) {
      // the client went away, or the stream was cut (a stalled export) once the answer had
      // begun: there is nobody to answer, and nothing went wrong on our side
      if (res.headersSent || res.destroyed || (err as { code?: string })?.code === 'ERR_STREAM_PREMATURE_CLOSE') {
        res.destroy()
        return
      }
      throw err
    }
  } else {
    res.setHeader('Content-Type', output.encoding === 'application/json' ? JSON_TYPE : output.encoding)
    res.end(JSON.stringify(lexToJson(output.body as LexValue)))
  }
}

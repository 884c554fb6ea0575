import { writeRecordJson, type JsonBytes } from '../../../../repo/record-json-text.js'

/** `{"uri","cid","value"}` (getRecord, listRecords' records), the value straight from the record's stored bytes. */
export function writeRecordView(out: JsonBytes, uri: string, cid: string, cbor: Uint8Array): void {
  out.ascii('{"uri":')
  out.string(uri)
  out.ascii(',"cid":')
  out.string(cid)
  out.ascii(',"value":')
  writeRecordJson(out, cbor)
  out.byte(0x7d)
}

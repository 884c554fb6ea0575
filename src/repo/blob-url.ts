/** Where this server serves a blob: its com.atproto.sync.getBlob URL. */
export function blobUrl(publicUrl: string, did: string, cid: string): string {
  return `${publicUrl}/xrpc/com.atproto.sync.getBlob?${new URLSearchParams({ did, cid })}`
}

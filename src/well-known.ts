import type express from 'express'
import type { AccountStore } from './accounts/account-store.js'
import { handleServed } from './accounts/status.js'

/** /.well-known/atproto-did for the handles this server hosts (matched on the Host header). */
export function registerWellKnown(app: express.Express, accounts: AccountStore): void {
  app.get('/.well-known/atproto-did', (req, res) => {
    const host = (req.hostname ?? '').toLowerCase()
    const account = accounts.getByHandle(host)
    if (!account || !handleServed(account)) {
      res.status(404).type('text/plain').send('User not found')
      return
    }
    res.type('text/plain').send(account.did)
  })
}

export const HELP = `carrel: the Carrel PDS operator's tool

Usage: carrel <command> [arguments] [options]

Accounts (the running server's admin API, or the data directory of a stopped server)
  account list                              every account: handle, DID, status, email, created
  account info <handle|did>                 one account: status, rev, takedown, invite codes
  account create <handle> <email> [--password P]
                                            a new account (an invite is made when required);
                                            prints the password (generated unless given)
  account deactivate <handle|did>           stop serving the repo (the owner can activate it)
  account activate <handle|did>             serve it again
  account takedown <handle|did> [--ref R]   take down: nothing served, sessions end, data kept
  account untakedown <handle|did>           lift the takedown: everything served again
  account delete <handle|did> --yes         delete the account and its data
  account reset-password <handle|did> [--password P]
                                            set a new password (generated unless given)
  invite create [--uses N]                  an invite code usable N times (default 1)
  export <handle|did> <file.car>            the repo as a CAR file

Data directory (the server must be stopped)
  db check                                  SQLite integrity, then every repo: block CIDs,
                                            commit signature, MST complete and canonical
  reindex                                   rebuild the index tables from the repos

Relays
  request-crawl [relay...]                  ask relays (default PDS_CRAWLERS) to crawl this host
                                            (needs the running server)
  relay status [relay...]                   what relays (default PDS_CRAWLERS) know of this host
                                            and each account: lists accounts behind, inactive
                                            or throttled there
  relay resync [relay...]                   for accounts a relay is behind on: #identity,
                                            #account and #sync of their current state, then
                                            requestCrawl (needs the running server)

Email
  email test <address>                      send a test message (PDS_EMAIL_SMTP_URL)
  email tokens                              tokens waiting in the outbox (no SMTP configured)

Options
  --json               one JSON document on stdout (for scripts)
  --url <url>          the server's URL (default http://localhost:$PDS_PORT); use its admin API
  --data-dir <dir>     work on this data directory (the server must be stopped)
  --env-file <file>    read variables from this file (default: PDS_ENV_FILE, else ./pds.env)
  --yes                confirm a deletion
  -h, --help           this text

Without --url or --data-dir, a command uses the server when one answers at the default URL,
else the data directory (PDS_DATA_DIRECTORY). The admin password is PDS_ADMIN_PASSWORD, else
the one the server generated into <data>/secrets/admin-password.

Exit codes: 0 done; 1 the operation failed; 2 wrong command line; 3 problems found (db check,
relay status); 4 not available (no server answers, the data directory is in use or missing).
`

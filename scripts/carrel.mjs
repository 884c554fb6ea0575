#!/usr/bin/env node
// `npm run carrel -- <command>` and `npx carrel <command>` (package.json bin): compiles dist/ when
// a source changed (scripts/build.mjs), then runs the compiled CLI (dist/src/cli.js) under Node 22.
import { join } from 'node:path'
import { ensureBuilt, root } from './build.mjs'
import { execNode } from './runtime.mjs'

await ensureBuilt()
execNode([join(root, 'dist', 'src', 'cli.js'), ...process.argv.slice(2)])

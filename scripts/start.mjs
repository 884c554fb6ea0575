#!/usr/bin/env node
// npm start: compiles dist/ when one of its inputs changed (scripts/build.mjs; unchanged sources
// are not compiled again), then runs `node ARGS` under Node 22 (scripts/runtime.mjs).
import { ensureBuilt } from './build.mjs'
import { execNode } from './runtime.mjs'

await ensureBuilt()
execNode(process.argv.slice(2))

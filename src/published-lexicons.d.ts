// Types for the path alias in tsconfig.json: @atproto/api's generated lexicon module, which the
// package's exports map does not expose. The same names are exported by the package's entry point.
declare module '@carrel/published-lexicons' {
  export { lexicons, schemas } from '@atproto/api'
}

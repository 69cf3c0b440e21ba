// Preload for the Kita XSS scanner: it needs the TypeScript 5 compiler API, which TypeScript 7
// (the project's compiler, a native binary) no longer ships, so `typescript` resolves to the
// `typescript5` alias while the scanner runs.
const Module = require('node:module')
const resolve = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, request === 'typescript' ? 'typescript5' : request, ...rest)
}

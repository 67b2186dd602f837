#!/usr/bin/env node
// A `solc` command over the npm solc-js package (the official compiler built to WebAssembly).
//
// These machines cannot download native solc binaries, so py-solc-x, brownie and forge all drive this
// front instead. It answers the two calls they make:
//   solc --version                 -> "Version: <full version>" (py-solc-x parses this line)
//   solc --standard-json [paths]   -> standard-JSON in on stdin, out on stdout
// Imports are resolved the way native solc resolves them: the path as given, then under --base-path,
// then under each --include-path. Remappings are applied by the compiler itself before the callback runs.
'use strict';

const fs = require('fs');
const path = require('path');

// Resolve solc from the project's node_modules even when this file is reached through a symlink.
const projectRoot = path.resolve(__dirname, '..');
const solc = require(require.resolve('solc', { paths: [projectRoot] }));

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, null];
    const value = () => (inline !== null ? inline : argv[++i]);
    switch (flag) {
      case '--version':
        opts.version = true;
        break;
      case '--standard-json':
        opts.standardJson = true;
        break;
      case '--base-path':
        opts.basePath = value();
        break;
      case '--include-path':
        opts.includePaths.push(value());
        break;
      case '--allow-paths':
        opts.allowPaths.push(...value().split(','));
        break;
      default:
        // Other flags (for example --pretty-json or a stray "-" for stdin) do not change the result.
        break;
    }
  }
  return opts;
}

function makeImportCallback(opts) {
  const roots = [process.cwd()];
  if (opts.basePath) roots.push(path.resolve(opts.basePath));
  for (const p of opts.includePaths) roots.push(path.resolve(p));
  return function findImport(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.join(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      } catch (err) {
        if (err.code !== 'ENOENT' && err.code !== 'EISDIR') return { error: `${candidate}: ${err.message}` };
      }
    }
    return { error: `File not found: ${importPath} (looked in ${roots.join(', ')})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc (solc-js front): only --version and --standard-json are supported\n');
    return 1;
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: makeImportCallback(opts) });
  process.stdout.write(output);
  return 0;
}

process.exitCode = main();

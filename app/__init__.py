"""Wellhead's investor app: a static browser bundle (viem, built by esbuild from app/web/src) served by a
Starlette server with a web3.py event indexer into SQLite. The server holds no key: the wallet signs.

Modules, lower to higher: `errors`, `settings`, `manifest` (addresses and ABIs), `indexer` (chain -> SQLite),
`queries` (SQLite -> API rows), `server` (HTTP), `__main__` (`python -m app`). `world` builds the demo's
state on a local Anvil (brownie; development only, never imported by the server).
"""

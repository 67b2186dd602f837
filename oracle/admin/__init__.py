"""Admin tooling: the ``wellhead-admin`` command line (also ``python -m oracle admin``).

Built on web3.py and the deployment manifest, like the daemon (no brownie): :mod:`~oracle.admin.manifest`
reads and updates ``deployments/<chainId>.json``, :mod:`~oracle.admin.specs` validates asset and market TOML
files, :mod:`~oracle.admin.session` shows, confirms, signs and sends each transaction, and
:mod:`~oracle.admin.words` turns a contract's custom error into words. ``docs/admins.md`` is the guide.
"""

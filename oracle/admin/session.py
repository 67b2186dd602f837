"""One admin session: a node (web3.py), the deployment manifest, a signing key, and the way every admin
transaction goes out: built from the deployed ABI, estimated (a refusal is decoded into words before
anything is signed), shown, confirmed on non-local chains, signed locally, sent, and its receipt's events
printed.
"""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3Exception

from oracle.abi import signature
from oracle.admin.manifest import Manifest, load_manifest
from oracle.admin.words import decode_revert
from oracle.errors import AdminError, ChainUnavailable, KeystoreError, TransactionReverted

__all__ = ["LOCAL_CHAIN_IDS", "AdminSession", "AdminSettings", "Sent", "load_account"]

logger = logging.getLogger(__name__)

LOCAL_CHAIN_IDS = frozenset({31337, 1337})
"""Anvil and Ganache: no confirmation prompt, and the development accounts may sign."""

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""Anvil's and Ganache's well-known development mnemonic (local chains only)."""


class AdminSettings(BaseSettings):
    """Where the admin CLI connects and which key signs; flags override ``WELLHEAD_ADMIN_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="WELLHEAD_ADMIN_", extra="ignore")

    rpc_url: SecretStr = Field(default=SecretStr("http://127.0.0.1:8545"))
    deployment: Path | None = None
    keystore: Path | None = None
    password_file: Path | None = None
    dev_account: int | None = Field(default=None, ge=0, le=255)
    yes: bool = False
    timeout_s: float = Field(default=120.0, gt=0)


def load_account(settings: AdminSettings, chain_id: int) -> LocalAccount:
    """The signing key: an encrypted keystore (its password from a file, else asked on the terminal), or on
    a local chain one of the development mnemonic's accounts.

    Raises:
        KeystoreError: the keystore or its password cannot be used.
        AdminError: no key was given, or a development account on a non-local chain.
    """
    if settings.keystore is not None:
        try:
            keystore = settings.keystore.read_text(encoding="utf-8")
        except OSError as exc:
            raise KeystoreError(settings.keystore, f"cannot read it ({exc.strerror})") from None
        if settings.password_file is not None:
            try:
                password = settings.password_file.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise KeystoreError(settings.password_file, f"cannot read the password file ({exc.strerror})") from None
        elif sys.stdin.isatty():
            password = getpass.getpass(f"password of {settings.keystore}: ")
        else:
            raise AdminError(f"{settings.keystore}: give --password-file (no terminal to ask for the password)")
        try:
            return Account.from_key(Account.decrypt(keystore, password))
        except (ValueError, TypeError, KeyError) as exc:
            raise KeystoreError(settings.keystore, f"cannot be unlocked ({exc})") from None
    if settings.dev_account is not None:
        if chain_id not in LOCAL_CHAIN_IDS:
            raise AdminError(
                f"chain {chain_id} is not local: development accounts are public keys; sign with --keystore"
            )
        Account.enable_unaudited_hdwallet_features()
        return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{settings.dev_account}")
    raise AdminError("no signing key: give --keystore FILE (and --password-file) or, on a local chain, --dev-account N")


@dataclass
class Sent:
    """A mined admin transaction: its hash, block and decoded events (name, arguments)."""

    tx_hash: str
    block: int
    gas_used: int
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def event(self, name: str) -> dict[str, Any]:
        """The arguments of the first event called ``name``.

        Raises:
            AdminError: the transaction emitted no such event.
        """
        for event_name, args in self.events:
            if event_name == name:
                return args
        raise AdminError(f"transaction {self.tx_hash} emitted no {name} event")


@dataclass
class AdminSession:
    """A node, a manifest and a key; ``send`` is the only way a transaction leaves."""

    w3: Web3
    manifest: Manifest
    manifest_path: Path
    account: LocalAccount
    chain_id: int
    assume_yes: bool = False
    timeout_s: float = 120.0
    out: TextIO = field(default_factory=lambda: sys.stdout)
    ask: Callable[[str], str] = input

    @classmethod
    def open(cls, settings: AdminSettings, *, out: TextIO | None = None) -> AdminSession:
        """Connects to the node, checks that it serves the manifest's chain, and unlocks the key.

        Raises:
            ChainUnavailable: the node does not answer.
            AdminError: the manifest is for another chain, or no usable key.
        """
        path = settings.deployment
        w3 = Web3(Web3.HTTPProvider(settings.rpc_url.get_secret_value(), request_kwargs={"timeout": 30}))
        try:
            chain_id = int(w3.eth.chain_id)
        except (OSError, Web3Exception) as exc:
            raise ChainUnavailable("eth_chainId", f"the node does not answer ({type(exc).__name__})") from None
        if path is None:
            path = Path("deployments") / f"{chain_id}.json"
        manifest = load_manifest(path)
        if manifest.chain_id != chain_id:
            raise AdminError(f"{path} is a deployment on chain {manifest.chain_id}, but the node serves chain {chain_id}")
        account = load_account(settings, chain_id)
        return cls(w3, manifest, path, account, chain_id, settings.yes, settings.timeout_s, out or sys.stdout)

    @property
    def local(self) -> bool:
        """Whether the chain is a local development chain (no confirmation asked)."""
        return self.chain_id in LOCAL_CHAIN_IDS

    def contract(self, name: str, address: str | None = None) -> Any:
        """A web3 contract of the manifest: by name, or a per-asset contract (``AssetShares``) at ``address``."""
        target = address or self.manifest.address(name)
        return self.w3.eth.contract(address=to_checksum_address(target), abi=self.manifest.abi(name))

    def read(self, name: str, function: str, *args: Any, address: str | None = None) -> Any:
        """An ``eth_call`` of a view function."""
        try:
            return self.contract(name, address).functions[function](*args).call()
        except ContractCustomError as exc:
            raise self._reverted(exc, f"{name}.{function}") from None

    def struct_components(self, name: str, function: str, argument: int) -> list[dict[str, Any]]:
        """The deployed ABI's components of a struct argument (to build it by field names)."""
        for entry in self.manifest.abi(name):
            if entry.get("type") == "function" and entry.get("name") == function:
                return list(entry["inputs"][argument]["components"])
        raise AdminError(f"the deployed {name} has no function {function}")

    def send(self, name: str, function: str, args: Sequence[Any], *, address: str | None = None,
             what: str = "") -> Sent:
        """Builds, shows, confirms (non-local chains), signs and sends one transaction; waits for its receipt.

        Raises:
            TransactionReverted: the contract refuses it (in the estimate, before signing, or on chain).
            AdminError: the admin declined at the prompt.
        """
        contract = self.contract(name, address)
        call = contract.functions[function](*args)
        sender = self.account.address
        try:
            tx = call.build_transaction({"from": sender, "nonce": self.w3.eth.get_transaction_count(sender, "pending"),
                                         "chainId": self.chain_id})
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._reverted(exc, f"{name}.{function}") from None
        self._show(name, contract.address, function, call, tx, what)
        if not self.local and not self.assume_yes:
            answer = self.ask(f"send this transaction on chain {self.chain_id}? [y/N] ").strip().lower()
            if answer not in ("y", "yes"):
                raise AdminError("not sent: declined at the prompt")
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout_s, poll_latency=0.2)
        except TimeExhausted:
            raise AdminError(f"transaction 0x{bytes(tx_hash).hex()} not mined within {self.timeout_s:.0f} s; "
                             "check it before sending again") from None
        hex_hash = "0x" + bytes(tx_hash).hex()
        if receipt["status"] != 1:
            raise self._reverted_on_chain(tx, receipt, f"{name}.{function}", hex_hash)
        events = self._events(receipt)
        self.out.write(f"  mined in block {receipt['blockNumber']} ({receipt['gasUsed']:,} gas): {hex_hash}\n")
        for event_name, event_args in events:
            self.out.write(f"  event {event_name}({', '.join(f'{k}={_shown(v)}' for k, v in event_args.items())})\n")
        return Sent(hex_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), events)

    # --- helpers ------------------------------------------------------------------------------------

    def _show(self, name: str, address: str, function: str, call: Any, tx: dict[str, Any], what: str) -> None:
        kind = "local" if self.local else "NOT local"
        inputs = call.abi.get("inputs", [])
        self.out.write(f"{what or function} on chain {self.chain_id} ({kind})\n")
        self.out.write(f"  from {self.account.address}\n  to   {name} {address}\n  call {function}(\n")
        for param, value in zip(inputs, call.args, strict=True):
            self.out.write(f"         {param['name'] or '_'} = {_shown_param(param, value)}\n")
        fees = (f"max fee {tx['maxFeePerGas']:,} wei/gas" if "maxFeePerGas" in tx
                else f"gas price {tx.get('gasPrice', 0):,} wei")
        self.out.write(f"       )\n  gas  {tx['gas']:,} (estimated), {fees}, nonce {tx['nonce']}\n")

    def _events(self, receipt: Any) -> list[tuple[str, dict[str, Any]]]:
        decoded = []
        events_by_topic: dict[bytes, tuple[str, Any]] = {}
        for contract_name in list(self.manifest.contracts) + list(self.manifest.abis):
            abi = self.manifest.abi(contract_name)
            contract = self.w3.eth.contract(abi=abi)
            for entry in abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    topic = Web3.keccak(text=signature(entry))
                    events_by_topic.setdefault(bytes(topic), (entry["name"], contract))
        for log in receipt["logs"]:
            if not log["topics"]:
                continue
            found = events_by_topic.get(bytes(log["topics"][0]))
            if found is None:
                continue
            event_name, contract = found
            try:
                parsed = contract.events[event_name]().process_log(log)
            except Web3Exception:
                continue
            decoded.append((event_name, dict(parsed["args"])))
        return decoded

    def _reverted(self, exc: BaseException, what: str) -> TransactionReverted:
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        if not isinstance(data, str):
            data = next((a for a in exc.args if isinstance(a, str) and a.startswith("0x")), None)
        decoded = decode_revert(data, self.manifest.all_abis())
        if decoded is None:
            message = str(exc.args[0]) if exc.args else type(exc).__name__
            return TransactionReverted(f"{what} would revert: {message}")
        return TransactionReverted(f"{what} refused: {decoded.words}", decoded.name, decoded.args)

    def _reverted_on_chain(self, tx: dict[str, Any], receipt: Any, what: str, tx_hash: str) -> TransactionReverted:
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except (ContractCustomError, ContractLogicError) as exc:
            error = self._reverted(exc, what)
            return TransactionReverted(f"{error.words} (mined and reverted: {tx_hash})", error.error_name,
                                       error.args_by_name)
        return TransactionReverted(f"{what} reverted on chain ({tx_hash}) without revert data")


def _shown(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return type(value)(_shown(v) for v in value)
    return value


def _shown_param(param: dict[str, Any], value: Any) -> str:
    """A call argument as the plan shows it: structs field by field."""
    if param.get("type") == "tuple" and isinstance(value, (list, tuple)):
        fields = ", ".join(
            f"{c['name']}={_shown_param(c, v)}" for c, v in zip(param["components"], value, strict=True)
        )
        return f"({fields})"
    return repr(_shown(value)) if isinstance(value, str) and not value.startswith("0x") else str(_shown(value))

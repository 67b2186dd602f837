"""The oracle's exceptions: one tree rooted at :class:`WellheadError`.

Every exception carries the values that explain it as attributes (the path, the reason, the address), so
that the daemon's loop boundary can log them with context and keep running. Malformed *readings* are not
exceptions: the aggregator rejects them one by one (see :class:`oracle.models.Rejection`) and carries on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AdminError",
    "AggregationError",
    "AssetMapError",
    "ChainError",
    "ChainUnavailable",
    "ConfigError",
    "CosignError",
    "CurtailmentError",
    "DevKeyError",
    "Eip712Error",
    "InputFileError",
    "KeystoreError",
    "MerkleError",
    "OutboxError",
    "OutboxMismatchError",
    "PeerRefused",
    "QuorumMissing",
    "RecordingFormatError",
    "SettingsError",
    "SignerOrderError",
    "SigningError",
    "SourceError",
    "SourceUnavailable",
    "StartupCheckError",
    "SubmissionError",
    "TransactionRejected",
    "TransactionReverted",
    "TransitionError",
    "WellheadError",
]


class WellheadError(Exception):
    """Base of every error the oracle raises on purpose."""


# --- configuration and input files -------------------------------------------------------------------


class ConfigError(WellheadError):
    """Configuration that cannot be used (a value out of range, an inconsistent combination)."""


class InputFileError(ConfigError):
    """An input file that is missing, unreadable or invalid.

    Attributes:
        path: the file.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AssetMapError(InputFileError):
    """The asset map (asset id -> hostname and GPU UUIDs, epoch genesis and length) is invalid."""


class CurtailmentError(InputFileError):
    """The curtailment (grid demand-response) windows file is invalid."""


# --- metric sources ----------------------------------------------------------------------------------


class SourceError(WellheadError):
    """A metric source could not deliver data at all (as opposed to delivering some malformed readings).

    Attributes:
        source: the source's name (a path, a URL).
        reason: what went wrong.
    """

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class SourceUnavailable(SourceError):
    """A live source (Prometheus, NVML) could not be reached or answered with an error.

    Never to be confused with "no data": a reachable source that holds no sample for a range is a meter
    outage and aggregates to zero healthy time; an unreachable one must produce no report at all.
    """


class RecordingFormatError(SourceError):
    """A recording file that is not usable as a whole (unreadable, truncated OpenMetrics, bad encoding).

    Attributes:
        line_no: the 1-based line where the problem was found, or None when it concerns the whole file.
    """

    def __init__(self, source: str, reason: str, line_no: int | None = None) -> None:
        self.line_no = line_no
        where = f" (line {line_no})" if line_no is not None else ""
        super().__init__(source, f"{reason}{where}")


class SettingsError(ConfigError):
    """The daemon's settings (file, environment, flags) are invalid.

    Attributes:
        problems: one line per invalid field (``section.field: what is wrong``); never a secret's value.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  - " + "\n  - ".join(problems))


class StartupCheckError(WellheadError):
    """A start-up check failed: the daemon refuses to run against this chain, oracle, signer set or source.

    Attributes:
        check: a stable identifier of the check (``chain_id``, ``signer_not_in_set``, ``unknown_asset``...).
        reason: what was found, in words.
    """

    def __init__(self, check: str, reason: str) -> None:
        self.check = check
        self.reason = reason
        super().__init__(f"start-up check {check!r} failed: {reason}")


# --- aggregation -------------------------------------------------------------------------------------


class AggregationError(WellheadError):
    """The aggregator was asked for something it cannot compute exactly (e.g. a range beyond int64 maths).

    Attributes:
        reason: what is out of range.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- EIP-712 and Merkle commitments ----------------------------------------------------------------------


class Eip712Error(WellheadError):
    """Typed data that cannot be encoded (a value out of its Solidity type's range)."""


class MerkleError(Eip712Error):
    """A Merkle tree that cannot be built or a proof that cannot be given.

    Attributes:
        reason: what is wrong.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --- signers -----------------------------------------------------------------------------------------


class SigningError(WellheadError):
    """A signer that cannot be loaded or cannot sign."""


class KeystoreError(SigningError):
    """An encrypted keystore or its password file that cannot be used.

    Attributes:
        path: the keystore or password file concerned.
        reason: what is wrong (never the password).
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DevKeyError(SigningError):
    """A development private key that cannot be read from its environment variable.

    Attributes:
        variable: the environment variable's name (never its value).
        reason: what is wrong.
    """

    def __init__(self, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(f"${variable}: {reason}")


class QuorumMissing(SigningError):
    """Fewer signatures than the oracle's threshold could be gathered (local signers and peers together); the
    message says how many of how many, and why each peer failed."""


class SignerOrderError(SigningError):
    """Two signers share one address, so their signatures cannot be strictly ascending.

    Attributes:
        address: the repeated address.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(f"signer {address} appears more than once")


# --- chain and submission ----------------------------------------------------------------------------


class ChainError(WellheadError):
    """Something went wrong talking to the chain."""


class ChainUnavailable(ChainError):
    """The RPC node could not be reached or kept failing after the configured retries.

    Attributes:
        method: the JSON-RPC call (or contract function) that failed.
        reason: the last error, in words.
    """

    def __init__(self, method: str, reason: str) -> None:
        self.method = method
        self.reason = reason
        super().__init__(f"chain unavailable ({method}): {reason}")


class SubmissionError(ChainError):
    """A batch could not be turned into a transaction (estimation reverted, fee cap reached...).

    Attributes:
        reason: what went wrong.
        error_name: the decoded custom error (``EpochAlreadyReported``...) when the contract reverted, else None.
        error_args: the custom error's arguments.
    """

    def __init__(self, reason: str, error_name: str | None = None, error_args: tuple[object, ...] = ()) -> None:
        self.reason = reason
        self.error_name = error_name
        self.error_args = error_args
        super().__init__(reason)


class TransactionRejected(ChainError):
    """The node refused a raw transaction (nonce too low, underpriced, fee below base fee...).

    Attributes:
        tx_hash: the refused transaction.
        kind: ``nonce_too_low``, ``underpriced``, ``already_known`` or ``other``.
        reason: the node's message.
    """

    def __init__(self, tx_hash: str, kind: str, reason: str) -> None:
        self.tx_hash = tx_hash
        self.kind = kind
        self.reason = reason
        super().__init__(f"transaction {tx_hash} rejected ({kind}): {reason}")


# --- outbox ------------------------------------------------------------------------------------------


class OutboxError(WellheadError):
    """The durable outbox cannot be used (corrupt, locked, or belongs to another deployment)."""


class OutboxMismatchError(OutboxError):
    """The outbox was created for another chain or oracle.

    Attributes:
        path: the outbox file.
        expected: what this daemon is configured for.
        found: what the outbox holds.
    """

    def __init__(self, path: str | Path, expected: str, found: str) -> None:
        self.path = Path(path)
        self.expected = expected
        self.found = found
        super().__init__(f"{self.path}: outbox belongs to {found}, not {expected}")


class TransitionError(OutboxError):
    """A state change that would move a record backwards (or skip a step) was refused.

    Attributes:
        record: what was being moved (``report 1/7``, ``batch 3``, ``transaction 0xab..``).
        current: its current state (None when the record does not exist).
        requested: the state asked for.
    """

    def __init__(self, record: str, current: str | None, requested: str) -> None:
        self.record = record
        self.current = current
        self.requested = requested
        where = "does not exist" if current is None else f"is {current!r}"
        super().__init__(f"{record} {where}: cannot move it to {requested!r} (states only move forward)")


# --- co-signing --------------------------------------------------------------------------------------


class CosignError(WellheadError):
    """A co-signing peer could not be asked, or answered something unusable.

    Attributes:
        peer: the peer's name or URL.
        reason: what went wrong.
    """

    def __init__(self, peer: str, reason: str) -> None:
        self.peer = peer
        self.reason = reason
        super().__init__(f"peer {peer}: {reason}")


class PeerRefused(CosignError):
    """A peer recomputed the batch from its own meters and refused to sign (HTTP 409).

    Attributes:
        differences: the fields that differ, as the peer listed them
            (``{"assetId", "epoch", "field", "ours", "theirs"}``).
    """

    def __init__(self, peer: str, differences: list[dict[str, object]]) -> None:
        self.differences = differences
        shown = ", ".join(
            f"asset {d.get('assetId')} epoch {d.get('epoch')} {d.get('field')}: {d.get('theirs')} != {d.get('ours')}"
            for d in differences[:5]
        )
        super().__init__(peer, f"refused to sign: {shown or 'no details'}")


# --- admin tooling -----------------------------------------------------------------------------------


class AdminError(WellheadError):
    """An admin command that cannot go ahead (a spec that does not fit the deployment, a refused confirmation,
    a signer that may not be used on this chain)."""


class TransactionReverted(AdminError):
    """A contract refused an admin transaction, in its estimate or on chain.

    Attributes:
        error_name: the custom error's name, or None when the revert data is unknown or empty.
        args: the custom error's arguments by name.
        words: the refusal in words (what the admin reads).
    """

    def __init__(self, words: str, error_name: str | None = None, args: dict[str, object] | None = None) -> None:
        self.error_name = error_name
        self.args_by_name = dict(args or {})
        self.words = words
        super().__init__(words)

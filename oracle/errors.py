"""The oracle's exceptions: one tree rooted at :class:`WellheadError`.

Every exception carries the values that explain it as attributes (the path, the reason, the address), so
that the daemon's loop boundary can log them with context and keep running. Malformed *readings* are not
exceptions: the aggregator rejects them one by one (see :class:`oracle.models.Rejection`) and carries on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AggregationError",
    "AssetMapError",
    "ConfigError",
    "CurtailmentError",
    "DevKeyError",
    "Eip712Error",
    "InputFileError",
    "KeystoreError",
    "MerkleError",
    "RecordingFormatError",
    "SignerOrderError",
    "SigningError",
    "SourceError",
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


class RecordingFormatError(SourceError):
    """A recording file that is not usable as a whole (unreadable, truncated OpenMetrics, bad encoding).

    Attributes:
        line_no: the 1-based line where the problem was found, or None when it concerns the whole file.
    """

    def __init__(self, source: str, reason: str, line_no: int | None = None) -> None:
        self.line_no = line_no
        where = f" (line {line_no})" if line_no is not None else ""
        super().__init__(source, f"{reason}{where}")


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


class SignerOrderError(SigningError):
    """Two signers share one address, so their signatures cannot be strictly ascending.

    Attributes:
        address: the repeated address.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__(f"signer {address} appears more than once")

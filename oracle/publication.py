"""Each epoch's leaves and proofs, published for keepers and auditors (root-only posting).

With root-only posting the chain holds one quorum-signed Merkle root per epoch and nothing else; whoever
settles an asset needs its report and the report's proof. The daemon writes one JSON document per epoch
(:func:`write_publication`, ``<dir>/epoch-<N>.json``, replaced atomically) and serves the same documents over
its HTTP server (``/epochs`` lists them, ``/epochs/<N>`` returns one); the keeper reads them from either
(:class:`DirectorySource`, :class:`HttpSource`).

A document carries the epoch, the root, ``reportCount``, the reports in leaf order and each report's proof.
:meth:`EpochPublication.verified` rebuilds the tree from the reports and checks the root and every proof, so
a keeper never sends a transaction on a document that would not verify on chain.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oracle.errors import InputFileError, MerkleError, SourceUnavailable
from oracle.models import Report
from oracle.roots import EpochTree, build_epoch_tree, verify_proof

__all__ = [
    "DirectorySource",
    "EpochPublication",
    "HttpSource",
    "PublicationSource",
    "publication_path",
    "write_publication",
]

logger = logging.getLogger(__name__)

_FILE = re.compile(r"^epoch-(\d+)\.json$")
_HASH = re.compile(r"^0x[0-9a-f]{64}$")


class EpochPublication(BaseModel):
    """One epoch's published root, reports (leaf order) and proofs (one per report, same order)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    epoch: int = Field(ge=0, lt=2**64)
    root: str = Field(pattern=_HASH.pattern)
    report_count: int = Field(alias="reportCount", ge=1, lt=2**32)
    reports: tuple[Report, ...]
    proofs: tuple[tuple[str, ...], ...]

    @classmethod
    def from_tree(cls, tree: EpochTree) -> EpochPublication:
        """The publication of an epoch's tree (what the daemon built and the quorum signed)."""
        return cls(
            epoch=tree.epoch,
            root="0x" + tree.root.hex(),
            reportCount=tree.count,
            reports=tree.reports,
            proofs=tuple(tuple("0x" + node.hex() for node in tree.tree.proof(i)) for i in range(tree.count)),
        )

    def proof_bytes(self, index: int) -> list[bytes]:
        """Report ``index``'s proof as 32-byte nodes."""
        return [bytes.fromhex(node[2:]) for node in self.proofs[index]]

    def verified(self) -> EpochPublication:
        """This publication, once its reports rebuild its root and every proof verifies.

        Raises:
            MerkleError: a report of another epoch, a count, root or proof that does not match.
        """
        if len(self.reports) != self.report_count or len(self.proofs) != self.report_count:
            raise MerkleError(
                f"epoch {self.epoch}: {len(self.reports)} reports and {len(self.proofs)} proofs for "
                f"reportCount {self.report_count}"
            )
        if any(r.epoch != self.epoch for r in self.reports):
            raise MerkleError(f"epoch {self.epoch}: a report of another epoch is listed")
        root = bytes.fromhex(self.root[2:])
        if build_epoch_tree(self.reports).root != root:
            raise MerkleError(f"epoch {self.epoch}: the reports do not give root {self.root}")
        for i, report in enumerate(self.reports):
            if not verify_proof(self.proof_bytes(i), root, report):
                raise MerkleError(f"epoch {self.epoch}: the proof of asset {report.asset_id} does not verify")
        return self

    def to_json(self) -> str:
        """The document as published (camelCase keys, as the contracts name the fields)."""
        return self.model_dump_json(by_alias=True)


def publication_path(directory: Path, epoch: int) -> Path:
    """Where epoch ``epoch``'s document lives under ``directory``."""
    return Path(directory) / f"epoch-{epoch}.json"


def write_publication(directory: Path, publication: EpochPublication) -> Path:
    """Write (or replace) an epoch's document atomically: readers see the old file or the new, never half."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = publication_path(directory, publication.epoch)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".epoch-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(publication.to_json())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("published epoch %d: %d reports, root %s", publication.epoch, publication.report_count,
                publication.root)
    return target


def _parse(text: str, where: str) -> EpochPublication:
    try:
        return EpochPublication.model_validate(json.loads(text))
    except (ValueError, ValidationError) as exc:
        raise InputFileError(where, f"not an epoch publication ({type(exc).__name__}: {exc})") from None


class PublicationSource(Protocol):
    """Where a keeper reads publications from."""

    def epochs(self) -> list[int]:
        """The epochs published, ascending."""
        ...

    def get(self, epoch: int) -> EpochPublication:
        """One epoch's publication (not yet verified)."""
        ...


class DirectorySource:
    """Publications in a directory (the daemon's ``publish_dir``, or a copy of it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def epochs(self) -> list[int]:
        """Epochs with a document, ascending (a missing directory has none)."""
        if not self.directory.is_dir():
            return []
        found = (_FILE.match(path.name) for path in self.directory.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def get(self, epoch: int) -> EpochPublication:
        """Read one document.

        Raises:
            InputFileError: missing or malformed.
        """
        path = publication_path(self.directory, epoch)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputFileError(path, f"cannot read it ({exc.strerror})") from None
        return _parse(text, str(path))


class HttpSource:
    """Publications served by a daemon's HTTP server (``GET /epochs``, ``GET /epochs/<N>``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = session or requests.Session()

    def _get(self, path: str) -> str:
        url = f"{self.base_url}{path}"
        try:
            response = self._session.get(url, timeout=self.timeout_s)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise SourceUnavailable(url, f"{type(exc).__name__}: {exc}") from None
        return response.text

    def epochs(self) -> list[int]:
        """Epochs the daemon lists, ascending.

        Raises:
            SourceUnavailable: the server did not answer.
            InputFileError: the listing is malformed.
        """
        text = self._get("/epochs")
        try:
            listed = json.loads(text)["epochs"]
            return sorted(int(epoch) for epoch in listed)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputFileError(f"{self.base_url}/epochs", f"not an epoch listing ({exc})") from None

    def get(self, epoch: int) -> EpochPublication:
        """One epoch's document.

        Raises:
            SourceUnavailable: the server did not answer (or has no such epoch).
            InputFileError: the document is malformed.
        """
        return _parse(self._get(f"/epochs/{epoch}"), f"{self.base_url}/epochs/{epoch}")


def listing_json(epochs: Sequence[int]) -> str:
    """The ``/epochs`` body: ``{"epochs": [...]}``."""
    return json.dumps({"epochs": list(epochs)})

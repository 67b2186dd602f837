"""The investor app's exceptions, rooted at one base error."""

from __future__ import annotations


class AppError(Exception):
    """Base of every error the app raises on purpose."""


class ManifestError(AppError):
    """The deployment manifest or a compiled ABI is missing or does not describe a usable deployment."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class IndexerError(AppError):
    """The indexer could not read the chain or write its database."""

    def __init__(self, block: int, problem: str) -> None:
        super().__init__(f"indexing from block {block}: {problem}")
        self.block = block
        self.problem = problem


class BadRequest(AppError):
    """An API request named something invalid (an address, an asset id)."""

    def __init__(self, field: str, value: str, expected: str) -> None:
        super().__init__(f"{field}={value!r} is not {expected}")
        self.field = field
        self.value = value
        self.expected = expected

"""Co-signing: a quorum of independent parties, each signing only what its own meters confirm.

A peer runs ``python -m oracle cosign --config peer.toml``: an HTTP endpoint (stdlib ``http.server`` on a
thread) that receives a batch, recomputes every report from *its own* source and asset map, and signs the
batch's EIP-712 digest only if every number matches exactly.

``POST /v1/sign`` with ``{"chainId", "oracle", "configVersion", "reports": [Report...], "digest"?}``:

* 200 ``{"digest": "0x..", "signatures": [{"signer", "v", "r", "s"}]}``: the peer's signers signed;
* 409 ``{"error": "mismatch", "differences": [{"assetId", "epoch", "field", "ours", "theirs"}]}``: the peer's
  meters say otherwise (``ours`` is the peer's value, ``theirs`` the requester's);
* 400 (malformed request, another chain or oracle, a digest that does not match the reports), 401 (missing
  or wrong bearer token), 503 (the peer's source does not cover the epochs yet, or is unreachable).

``POST /v1/sign-root`` (root mode) with ``{"chainId", "oracle", "configVersion", "epoch", "reportCount", "root",
"reports": [Report...] (the tree's leaves, ascending assetId), "digest"?}``: the peer recomputes every report
from its own source, rebuilds the Merkle tree from *its* numbers in the same leaf order, and signs the
``ReportRoot`` digest only if its root equals the requested one exactly:

* 200 ``{"digest", "root", "signatures"}``;
* 409 ``{"error": "mismatch", "differences": [...], "assets": [assetId...], "root": "0x.." | null}``: the
  differing fields, the assets they belong to, and the root of the peer's own view;
* 400 as above, and for leaves out of order or of another epoch, a ``reportCount`` that is not the number of
  reports, or reports whose tree does not have the requested root; 401 and 503 as above.

The daemon asks its peers in order until its own signatures plus theirs reach the oracle's threshold, checks
that each returned signature recovers to the signer it claims and that the signer is in the current set, and
posts exactly ``threshold`` signatures ordered by address (:func:`oracle.signer.sign_sorted` semantics).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from eth_utils.address import is_address, to_checksum_address
from pydantic import ValidationError

from oracle.eip712 import Eip712Domain, batch_digest, build_report_tree, root_digest
from oracle.errors import CosignError, PeerRefused, SigningError, SourceError, WellheadError
from oracle.models import Report
from oracle.signer import Signature, Signer, SignerSignature, recover_signer, sign_sorted

__all__ = [
    "CosignServer",
    "CosignService",
    "NotReady",
    "PeerClient",
    "collect_quorum",
    "signature_from_json",
    "signature_to_json",
]

logger = logging.getLogger(__name__)

_FIELDS = ("gpuSeconds", "curtailedGpuSeconds", "utilizationBps", "energyWh")


class NotReady(WellheadError):
    """The co-signer's source does not cover an epoch of the batch yet (HTTP 503, ask again later)."""


def signature_to_json(item: SignerSignature) -> dict[str, Any]:
    """A signer's signature as JSON."""
    sig = item.signature
    return {"signer": item.signer, "v": sig.v, "r": hex(sig.r), "s": hex(sig.s)}


def signature_from_json(data: dict[str, Any]) -> SignerSignature:
    """The inverse of :func:`signature_to_json`.

    Raises:
        SigningError: malformed fields.
    """
    try:
        signer = data["signer"]
        if not is_address(signer):
            raise SigningError(f"{signer!r} is not an address")
        signature = Signature(v=int(data["v"]), r=int(str(data["r"]), 16), s=int(str(data["s"]), 16))
    except (KeyError, TypeError, ValueError) as exc:
        raise SigningError(f"malformed signature: {exc}") from None
    return SignerSignature(signer=to_checksum_address(signer), signature=signature)


# --- the peer's side ---------------------------------------------------------------------------------


class _Answer(Exception):  # noqa: N818 - a control-flow carrier, not an error
    """An HTTP answer decided before signing (400, 503)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class CosignService:
    """Checks and signs batches (the HTTP-free core of the endpoint).

    Args:
        chain_id: the only chain this peer signs for.
        oracle: the only MeteringOracle it signs for.
        signers: its local signers.
        recompute: (assetId, epoch) keys -> the peer's own reports for them; raises :class:`NotReady` or
            :class:`~oracle.errors.SourceError`.
        known_assets: the asset ids of the peer's asset map.
    """

    def __init__(
        self,
        *,
        chain_id: int,
        oracle: str,
        signers: Sequence[Signer],
        recompute: Callable[[list[tuple[int, int]]], dict[tuple[int, int], Report]],
        known_assets: set[int],
    ) -> None:
        self.domain = Eip712Domain(chain_id, oracle)
        self.signers = list(signers)
        self.recompute = recompute
        self.known_assets = known_assets

    def handle(self, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for a sign request body."""
        try:
            version, reports = self._parse(body)
            digest = batch_digest(self.domain, version, reports)
            if "digest" in body and str(body["digest"]).lower() != "0x" + digest.hex():
                raise _Answer(400, {"error": "digest_mismatch", "detail": f"the reports hash to 0x{digest.hex()}"})
            _ours, differences = self._compare(reports)
        except _Answer as answer:
            return answer.status, answer.body
        if differences:
            logger.warning(
                "refusing to sign: %d fields differ from our meters",
                len(differences),
                extra={"event": "cosign_refused", "differences": differences[:20]},
            )
            return 409, {"error": "mismatch", "differences": differences}
        signatures = sign_sorted(digest, self.signers)
        logger.info(
            "co-signed %d reports (digest 0x%s)",
            len(reports),
            digest.hex(),
            extra={"event": "cosigned", "reports": len(reports), "digest": "0x" + digest.hex()},
        )
        return 200, {"digest": "0x" + digest.hex(), "signatures": [signature_to_json(s) for s in signatures]}

    def handle_root(self, body: Any) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for a root sign request body (see the module docstring)."""
        try:
            version, reports = self._parse(body)
            try:
                epoch = int(body["epoch"])
                count = int(body["reportCount"])
                root = bytes.fromhex(str(body["root"]).removeprefix("0x"))
                if len(root) != 32:
                    raise ValueError("root must be 32 bytes")
            except (KeyError, TypeError, ValueError) as exc:
                raise _Answer(400, {"error": "malformed", "detail": str(exc)[:500]}) from None
            if count != len(reports):
                raise _Answer(400, {"error": "malformed", "detail": f"reportCount {count} but {len(reports)} reports"})
            if any(r.epoch != epoch for r in reports):
                raise _Answer(400, {"error": "malformed", "detail": f"every leaf must be a report of epoch {epoch}"})
            ids = [r.asset_id for r in reports]
            if any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
                raise _Answer(
                    400, {"error": "leaf_order", "detail": "the leaves must be in strictly ascending assetId order"}
                )
            theirs = build_report_tree(reports).root
            if theirs != root:
                raise _Answer(400, {"error": "root_mismatch", "detail": f"the reports' tree has root 0x{theirs.hex()}"})
            digest = root_digest(self.domain, version, epoch, count, root)
            if "digest" in body and str(body["digest"]).lower() != "0x" + digest.hex():
                raise _Answer(400, {"error": "digest_mismatch", "detail": f"the root's digest is 0x{digest.hex()}"})
            ours, differences = self._compare(reports)
        except _Answer as answer:
            return answer.status, answer.body
        keys = [(r.asset_id, r.epoch) for r in reports]
        our_root = build_report_tree([ours[k] for k in keys]).root if all(k in ours for k in keys) else None
        if differences or our_root != root:
            assets = sorted({int(d["assetId"]) for d in differences})
            logger.warning(
                "refusing to sign the root of epoch %d: %d fields of %d assets differ from our meters",
                epoch,
                len(differences),
                len(assets),
                extra={
                    "event": "cosign_refused",
                    "epoch": epoch,
                    "assets": assets[:100],
                    "differences": differences[:20],
                },
            )
            return 409, {
                "error": "mismatch",
                "differences": differences,
                "assets": assets,
                "root": None if our_root is None else "0x" + our_root.hex(),
            }
        signatures = sign_sorted(digest, self.signers)
        logger.info(
            "co-signed the root of epoch %d (%d reports, root 0x%s)",
            epoch,
            count,
            root.hex(),
            extra={"event": "cosigned_root", "epoch": epoch, "reports": count, "root": "0x" + root.hex()},
        )
        return 200, {
            "digest": "0x" + digest.hex(),
            "root": "0x" + root.hex(),
            "signatures": [signature_to_json(s) for s in signatures],
        }

    def _parse(self, body: Any) -> tuple[int, list[Report]]:
        """(configVersion, reports) of a request.

        Raises:
            _Answer: 400 for a malformed request or another domain.
        """
        try:
            chain_id = int(body["chainId"])
            oracle = str(body["oracle"])
            version = int(body["configVersion"])
            reports = [Report.model_validate(r) for r in body["reports"]]
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise _Answer(400, {"error": "malformed", "detail": str(exc)[:500]}) from None
        if (
            chain_id != self.domain.chain_id
            or not is_address(oracle)
            or (to_checksum_address(oracle) != self.domain.verifying_contract)
        ):
            domain = self.domain
            raise _Answer(
                400,
                {
                    "error": "wrong_domain",
                    "detail": f"this peer signs for chain {domain.chain_id} oracle {domain.verifying_contract}",
                },
            )
        if not reports:
            raise _Answer(400, {"error": "malformed", "detail": "no reports"})
        return version, reports

    def _compare(self, reports: Sequence[Report]) -> tuple[dict[tuple[int, int], Report], list[dict[str, Any]]]:
        """(our reports, the fields of ``reports`` that differ from them).

        Raises:
            _Answer: 503 when our source cannot answer yet.
        """
        unknown = [r for r in reports if r.asset_id not in self.known_assets]
        differences: list[dict[str, Any]] = [
            {"assetId": r.asset_id, "epoch": r.epoch, "field": "assetId", "ours": None, "theirs": r.asset_id}
            for r in unknown
        ]
        keys = [(r.asset_id, r.epoch) for r in reports if r.asset_id in self.known_assets]
        try:
            ours = self.recompute(keys) if keys else {}
        except NotReady as exc:
            raise _Answer(503, {"error": "not_ready", "detail": str(exc)}) from None
        except SourceError as exc:
            raise _Answer(503, {"error": "source_unavailable", "detail": str(exc)}) from None
        for report in reports:
            mine = ours.get((report.asset_id, report.epoch))
            if mine is None:
                continue
            theirs_dump, mine_dump = report.model_dump(), mine.model_dump()
            for name in _FIELDS:
                if theirs_dump[name] != mine_dump[name]:
                    differences.append(
                        {
                            "assetId": report.asset_id,
                            "epoch": report.epoch,
                            "field": name,
                            "ours": mine_dump[name],
                            "theirs": theirs_dump[name],
                        }
                    )
        return ours, differences


MAX_BODY_BYTES = 64 * 1024 * 1024
"""The largest request a peer reads by default (an epoch's root request carries every leaf: ~150 bytes per
asset, so 64 MiB is about 400,000 assets)."""
READ_TIMEOUT_S = 30.0
"""By default, a request (headers and body) must arrive within this long, however it trickles in."""
MAX_CONNECTIONS = 32
"""Connections served at once by default; more are closed at once (slow clients cannot exhaust threads)."""


class _BoundedServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with at most ``max_connections`` requests in flight (one thread each)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            logger.warning(
                "co-signing: %s refused, every connection slot is busy",
                client_address[0],
                extra={"event": "cosign_busy", "client": client_address[0]},
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class CosignServer:
    """Serves a :class:`CosignService` on ``POST /v1/sign`` and ``POST /v1/sign-root`` (and ``GET /health``)
    from a background thread.

    It faces the network, so it bounds what a client can take: the bearer token is compared in constant time
    (``hmac.compare_digest``) before the body is read; a request must announce its ``Content-Length`` (411
    otherwise), at most ``max_body_bytes`` (413); headers and body must arrive within ``read_timeout_s``
    however slowly they trickle in (a slow-loris client is cut off); at most ``max_connections`` are served
    at once, more are closed at once; one request per connection (HTTP/1.0).

    Args:
        auth_token: when set, requests need ``Authorization: Bearer <token>``.
        read_timeout_s: the time a client has to send a whole request.
        max_body_bytes: the largest body read.
        max_connections: connections served at once.
    """

    def __init__(
        self,
        service: CosignService,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_token: str | None = None,
        read_timeout_s: float = READ_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.service = service
        server = self
        expected = f"Bearer {auth_token}".encode() if auth_token else None

        class Handler(BaseHTTPRequestHandler):
            timeout = read_timeout_s  # each socket read; the watchdog below bounds the whole request

            def setup(self) -> None:
                super().setup()
                self._watchdog = threading.Timer(read_timeout_s, self._cut_off)
                self._watchdog.daemon = True
                self._watchdog.start()

            def finish(self) -> None:
                self._watchdog.cancel()
                super().finish()

            def _cut_off(self) -> None:
                """The request did not arrive in time: close the socket under the reading thread."""
                logger.warning(
                    "co-signing: %s sent no complete request within %.0fs: connection closed",
                    self.client_address[0],
                    read_timeout_s,
                    extra={"event": "cosign_read_timeout", "client": self.client_address[0]},
                )
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                route = self.path.split("?", 1)[0]
                handlers = {"/v1/sign": server.service.handle, "/v1/sign-root": server.service.handle_root}
                if route not in handlers:
                    self._watchdog.cancel()
                    self._send(404, {"error": "not found"})
                    return
                given = self.headers.get("Authorization", "").encode()
                if expected is not None and not hmac.compare_digest(given, expected):
                    self._watchdog.cancel()
                    self._send(401, {"error": "unauthorised"})
                    return
                declared = self.headers.get("Content-Length")
                if declared is None or not declared.strip().isdigit():
                    self._watchdog.cancel()
                    self._send(411, {"error": "length_required", "detail": "send a Content-Length"})
                    return
                length = int(declared)
                if length > max_body_bytes:
                    self._watchdog.cancel()
                    self._send(413, {"error": "too_large", "detail": f"at most {max_body_bytes} bytes"})
                    return
                try:
                    raw = self.rfile.read(length)
                except OSError:
                    return  # cut off by the watchdog, or the client went away
                self._watchdog.cancel()
                if len(raw) < length:
                    return  # the connection closed before the body arrived: nobody to answer
                try:
                    body = json.loads(raw or b"null")
                except (ValueError, json.JSONDecodeError):
                    self._send(400, {"error": "malformed", "detail": "not JSON"})
                    return
                try:
                    status, answer = handlers[route](body)
                except Exception as exc:  # the endpoint must answer, whatever went wrong inside
                    logger.exception("co-signing failed", extra={"event": "cosign_error"})
                    status, answer = 500, {"error": "internal", "detail": type(exc).__name__}
                self._send(status, answer)

            def do_GET(self) -> None:  # noqa: N802
                self._watchdog.cancel()
                if self.path.split("?", 1)[0] == "/health":
                    self._send(200, {"status": "ok", "signers": [s.address for s in server.service.signers]})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    logger.debug("co-signing: the client went away before the answer")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                logger.debug("cosign %s", format % args)

        self._server = _BoundedServer((host, port), Handler, max_connections)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve on a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cosign-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


# --- the requester's side ----------------------------------------------------------------------------


class PeerClient:
    """Asks one co-signing peer for its signatures over a batch."""

    def __init__(self, name: str, url: str, *, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout_s
        self._session = requests.Session()

    def request(
        self, domain: Eip712Domain, config_version: int, reports: Sequence[Report], digest: bytes
    ) -> list[SignerSignature]:
        """The peer's signatures over ``digest``, each checked to recover to the signer it names.

        Raises:
            PeerRefused: the peer's meters disagree (409), with the differing fields.
            CosignError: the peer is unreachable, not ready, or answered something unusable.
        """
        body = {
            "chainId": domain.chain_id,
            "oracle": domain.verifying_contract,
            "configVersion": config_version,
            "reports": [r.model_dump(mode="json") for r in reports],
            "digest": "0x" + digest.hex(),
        }
        return self._ask("/v1/sign", body, digest)

    def request_root(
        self,
        domain: Eip712Domain,
        config_version: int,
        epoch: int,
        reports: Sequence[Report],
        root: bytes,
        digest: bytes,
    ) -> list[SignerSignature]:
        """The peer's signatures over the ``ReportRoot`` digest of ``epoch``'s tree, whose leaves are ``reports``
        (in leaf order), each checked to recover to the signer it names.

        Raises:
            PeerRefused: the peer's meters disagree (409), with the differing fields.
            CosignError: the peer is unreachable, not ready, or answered something unusable (a peer that does
                not serve root requests answers 404).
        """
        body = {
            "chainId": domain.chain_id,
            "oracle": domain.verifying_contract,
            "configVersion": config_version,
            "epoch": epoch,
            "reportCount": len(reports),
            "root": "0x" + root.hex(),
            "reports": [r.model_dump(mode="json") for r in reports],
            "digest": "0x" + digest.hex(),
        }
        return self._ask("/v1/sign-root", body, digest)

    def _ask(self, path: str, body: dict[str, Any], digest: bytes) -> list[SignerSignature]:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = self._session.post(self.url + path, json=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise CosignError(self.name, f"unreachable: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            raise CosignError(self.name, f"HTTP {response.status_code}, not JSON") from None
        if response.status_code == 409:
            raise PeerRefused(self.name, list(answer.get("differences", [])))
        if response.status_code != 200:
            raise CosignError(self.name, f"HTTP {response.status_code}: {answer.get('error')}: {answer.get('detail')}")
        if str(answer.get("digest", "")).lower() != "0x" + digest.hex():
            raise CosignError(self.name, "signed another digest")
        out: list[SignerSignature] = []
        for item in answer.get("signatures", []):
            try:
                signed = signature_from_json(item)
                recovered = recover_signer(digest, signed.signature)
            except SigningError as exc:
                raise CosignError(self.name, str(exc)) from None
            if recovered != signed.signer:
                raise CosignError(self.name, f"signature claims {signed.signer} but recovers to {recovered}")
            out.append(signed)
        return out


def collect_quorum(
    digest: bytes,
    *,
    local: Sequence[Signer],
    peers: Sequence[PeerClient],
    signer_set: Sequence[str],
    threshold: int,
    domain: Eip712Domain,
    config_version: int,
    reports: Sequence[Report],
    epoch: int | None = None,
    root: bytes | None = None,
) -> tuple[list[SignerSignature], list[str]]:
    """Exactly ``threshold`` signatures by distinct members of ``signer_set``, ascending by address: the
    local signers' first, then the peers' (asked in order, only while more are needed).

    With ``root`` (and ``epoch``), ``digest`` is that root's ``ReportRoot`` digest and ``reports`` its leaves in
    leaf order: the peers are asked with :meth:`PeerClient.request_root`.

    Returns:
        (the signatures, or fewer than ``threshold`` when the quorum could not be reached; one problem per
        peer that failed or refused).
    """
    members = {to_checksum_address(a) for a in signer_set}
    collected: dict[str, SignerSignature] = {}
    usable = [s for s in local if s.address in members]
    for item in sign_sorted(digest, usable) if usable else []:
        collected[item.signer] = item
    problems: list[str] = []
    for peer in peers:
        if len(collected) >= threshold:
            break
        try:
            if root is not None:
                answered = peer.request_root(domain, config_version, int(epoch or 0), reports, root, digest)
            else:
                answered = peer.request(domain, config_version, reports, digest)
            for item in answered:
                if item.signer in members and item.signer not in collected:
                    collected[item.signer] = item
        except CosignError as exc:
            problems.append(str(exc))
            level = logging.ERROR if isinstance(exc, PeerRefused) else logging.WARNING
            logger.log(
                level,
                "co-signer %s: %s",
                peer.name,
                exc.reason,
                extra={
                    "event": "cosign_peer_failed",
                    "peer": peer.name,
                    "differences": getattr(exc, "differences", None),
                },
            )
    chosen = sorted(collected.values(), key=lambda item: int(item.signer, 16))[:threshold]
    return chosen, problems

"""The ABIs the `oracle` package ships (oracle/abi) are the build's, and the daemon's calldata comes from them."""

from __future__ import annotations

import json
from pathlib import Path

from oracle.abi import SHIPPED, abi_of, error_registry, selector, signature
from oracle.chain import COMMIT_ROOT, ERRORS, FUNCTIONS, PROVE_REPORTS, SUBMIT
from scripts import gen_abi

ROOT = Path(__file__).resolve().parents[2]


def test_gen_abi_check_finds_every_shipped_abi_equal_to_the_build() -> None:
    assert gen_abi.stale() == [], "run `make abi` after changing a contract"
    assert gen_abi.main(["--check"]) == 0


def test_gen_abi_check_names_a_shipped_file_that_drifted(tmp_path: Path, monkeypatch) -> None:
    for name in SHIPPED:
        (tmp_path / f"{name}.json").write_text((ROOT / "oracle" / "abi" / f"{name}.json").read_text())
    drifted = json.loads((tmp_path / "MeteringOracle.json").read_text())
    (tmp_path / "MeteringOracle.json").write_text(gen_abi.render([e for e in drifted if e.get("name") != "submit"]))
    monkeypatch.setattr(gen_abi, "TARGET", tmp_path)

    assert gen_abi.stale() == [str(tmp_path / "MeteringOracle.json")]
    assert gen_abi.main(["--check"]) == 1


def test_daemon_functions_are_the_shipped_abi_entries() -> None:
    oracle_abi = abi_of("MeteringOracle")
    by_name = {e["name"]: e for e in oracle_abi if e["type"] == "function"}
    assert SUBMIT.selector == selector(by_name["submit"])
    assert COMMIT_ROOT.signature == signature(by_name["commitRoot"])
    assert PROVE_REPORTS.signature == signature(by_name["proveReports"])
    assert FUNCTIONS["cursorOf"].signature == "cursorOf(uint256)"
    assert SUBMIT.signature.startswith("submit(uint64,(uint256,uint64,uint64,uint64,uint16,uint64)[],address[],")


def test_every_custom_error_of_the_suite_decodes() -> None:
    registry = error_registry()
    for name in SHIPPED:
        for entry in abi_of(name):
            if entry["type"] == "error":
                assert ERRORS[selector(entry)][0] == entry["name"]
    assert registry[selector({"name": "Error", "inputs": [{"type": "string"}]})].name == "Error"
    # errors OpenZeppelin contracts add (not declared in the suite's interfaces) are known too
    assert "AccessControlUnauthorizedAccount" in {e.name for e in registry.values()}

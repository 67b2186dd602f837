"""The NVML source's sampling with a fake NVML module (the real one runs on a GPU host: ``oracle nvml-probe``)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from oracle.aggregate import AggregationConfig, aggregate
from oracle.errors import SourceUnavailable
from oracle.models import AssetMap
from oracle.sources.base import ScrapeGrid
from oracle.sources.nvml import NvmlSource


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeGpu:
    uuid: str
    util: int = 50
    power_mw: int = 400_000
    energy_mj: int = 10**9
    lost: bool = False


@dataclass
class FakeNvml:
    """Enough of pynvml for the source: devices, utilisation, power, energy, XID events."""

    gpus: list[FakeGpu]
    events: list[tuple[int, int]] = field(default_factory=list)  # (gpu index, xid)
    events_supported: bool = True
    energy_supported: bool = True
    NVMLError: type = NVMLError
    NVML_ERROR_TIMEOUT: int = 10
    nvmlEventTypeXidCriticalError: int = 8
    shut: bool = False

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> bytes:
        return self.gpus[handle].uuid.encode()

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA H200"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        self._check(handle)
        return SimpleNamespace(gpu=self.gpus[handle].util, memory=0)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._check(handle)
        return self.gpus[handle].power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if not self.energy_supported:
            raise NVMLError(3)
        self._check(handle)
        return self.gpus[handle].energy_mj

    def nvmlEventSetCreate(self) -> str:
        if not self.events_supported:
            raise NVMLError(3)
        return "event-set"

    def nvmlDeviceRegisterEvents(self, handle: int, kind: int, event_set: str) -> None:
        pass

    def nvmlEventSetWait_v2(self, event_set: str, timeout_ms: int) -> Any:
        if not self.events:
            raise NVMLError(self.NVML_ERROR_TIMEOUT)
        index, xid = self.events.pop(0)
        return SimpleNamespace(device=index, eventData=xid, eventType=8)

    def nvmlEventSetFree(self, event_set: str) -> None:
        pass

    def _check(self, handle: int) -> None:
        if self.gpus[handle].lost:
            raise NVMLError(15)  # NVML_ERROR_GPU_IS_LOST

    def advance(self, seconds: int) -> None:
        for gpu in self.gpus:
            gpu.energy_mj += gpu.power_mw * seconds  # mW x s = mJ


@pytest.fixture
def nvml() -> FakeNvml:
    return FakeNvml([FakeGpu("GPU-aaaa"), FakeGpu("GPU-bbbb", util=90, power_mw=650_000)])


def test_sample_once_reads_every_gpu_into_the_ring_buffer(nvml: FakeNvml) -> None:
    source = NvmlSource(scrape_interval_ms=1000, nvml=nvml, hostname="h200-1")
    source.start(thread=False)
    samples = source.sample_once(5_000)
    assert [(s.uuid, s.util_pct, s.power_w, s.energy_mj, s.xid) for s in samples] == [
        ("GPU-aaaa", 50.0, 400.0, 10**9, 0),
        ("GPU-bbbb", 90.0, 650.0, 10**9, 0),
    ]
    assert source.covered_until_ms() == 5_000
    batch = source.fetch()
    assert isinstance(batch.data, ScrapeGrid)
    assert batch.data.labels_of(1)["Hostname"] == "h200-1"
    source.close()
    assert nvml.shut


def test_xid_events_mark_the_next_scrape_and_lost_gpus_miss_it(nvml: FakeNvml) -> None:
    source = NvmlSource(scrape_interval_ms=1000, nvml=nvml)
    source.start(thread=False)
    source.sample_once(1_000)
    nvml.events.append((1, 79))
    nvml.gpus[0].lost = True
    samples = source.sample_once(2_000)
    assert samples[0].error is not None and samples[1].xid == 79
    nvml.gpus[0].lost = False
    assert [s.xid for s in source.sample_once(3_000)] == [0, 0]
    grid = source.fetch().data
    assert grid.present.tolist() == [[True, False, True], [True, True, True]]  # type: ignore[union-attr]
    assert grid.xid.tolist() == [[0, 0, 0], [0, 79, 0]]  # type: ignore[union-attr]


def test_the_buffer_aggregates_into_an_epoch_with_energy_from_the_counter(nvml: FakeNvml) -> None:
    source = NvmlSource(scrape_interval_ms=1000, nvml=nvml, buffer_s=60)
    source.start(thread=False)
    for second in range(0, 21):
        source.sample_once(1_000_000 + second * 1000)
        nvml.advance(1)
    assets = AssetMap.model_validate(
        {"genesis": 1_000, "epochLength": 10, "assets": {"1": {"hostname": "h", "gpus": ["GPU-aaaa", "GPU-bbbb"]}}}
    )
    result = aggregate(source.fetch(), assets, config=AggregationConfig(scrape_interval_ms=1000), first_epoch=0)
    (first, second) = result.epochs
    stats = first.assets[0]
    assert stats.report.gpu_seconds == 20  # 2 GPUs x 10 s
    assert stats.energy_mj == (400_000 + 650_000) * 10  # mJ from the counters over 10 s
    assert stats.report.utilization_bps == 7_000


def test_the_ring_buffer_keeps_only_its_span(nvml: FakeNvml) -> None:
    source = NvmlSource(scrape_interval_ms=1000, nvml=nvml, buffer_s=5)
    source.start(thread=False)
    for second in range(20):
        source.sample_once(second * 1000)
    grid = source.fetch().data
    assert grid.ts_ms[0].tolist() == [14_000, 15_000, 16_000, 17_000, 18_000, 19_000]  # type: ignore[union-attr]


def test_without_event_support_xid_is_zero(nvml: FakeNvml, caplog: pytest.LogCaptureFixture) -> None:
    nvml.events_supported = False
    source = NvmlSource(scrape_interval_ms=1000, nvml=nvml)
    source.start(thread=False)
    assert [s.xid for s in source.sample_once(1)] == [0, 0]
    assert "XID is reported as 0" in caplog.text


def test_a_gpu_without_energy_counter_makes_the_source_unavailable(nvml: FakeNvml) -> None:
    nvml.energy_supported = False
    with pytest.raises(SourceUnavailable, match="GPU-aaaa has no total energy counter"):
        NvmlSource(nvml=nvml).start(thread=False)


def test_missing_nvidia_ml_py_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pynvml(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pynvml":
            raise ImportError("no pynvml")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pynvml)
    with pytest.raises(SourceUnavailable, match=r"pip install 'wellhead-oracle\[nvml\]'"):
        NvmlSource().start(thread=False)


def test_the_sampling_thread_scrapes_on_the_interval_and_stops(nvml: FakeNvml) -> None:
    import time

    source = NvmlSource(scrape_interval_ms=50, nvml=nvml)
    source.start()
    time.sleep(0.4)
    source.close()
    n = source.fetch().data.n_slots  # type: ignore[union-attr]
    assert 3 <= n <= 12


def test_nvml_probe_command_prints_scrapes_and_a_mini_epoch(
    nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    from oracle import cli

    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    code = cli.main(["nvml-probe", "--seconds", "2.2", "--scrape-interval", "0.2", "--epoch-length", "1"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert out[0]["gpus"] == ["GPU-aaaa", "GPU-bbbb"] and out[0]["xidEvents"] is True
    scrapes = [o["scrape"] for o in out if "scrape" in o]
    assert len(scrapes) >= 16 and {s["uuid"] for s in scrapes} == {"GPU-aaaa", "GPU-bbbb"}
    reports = [o for o in out if "report" in o]
    assert reports and all(r["report"]["gpuSeconds"] == 2 for r in reports)  # 2 GPUs x 1 s epochs, all healthy
    assert {r["report"]["utilizationBps"] for r in reports} == {7_000}

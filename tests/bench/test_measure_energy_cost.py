import mmap
import time

import numpy as np
import pytest

from lmscape.bench import cost, energy, measure
from lmscape.config import load_settings


def test_percentiles_ignore_missing_values():
    assert measure.percentile([None, 1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert measure.percentile([None], 95) is None
    assert measure.percentile(range(1, 101), 95) == pytest.approx(np.percentile(range(1, 101), 95))


@pytest.mark.parametrize("use_kernel", [True, False], ids=["kernel-hwm", "sampler-thread"])
def test_rss_sampler_sees_a_short_lived_allocation(use_kernel):
    with measure.RssSampler(interval_s=0.005, use_kernel=use_kernel) as sampler:
        before = sampler.take_peak()
        # 64 MiB of fresh pages, touched: mapped here, not taken from memory an allocator
        # kept resident after an earlier free (which would not raise RSS at all)
        block = mmap.mmap(-1, 64 * 2**20)
        np.frombuffer(block, dtype=np.uint8)[:] = 1
        if sampler.mode.startswith("psutil"):
            # The block lives until the thread has read RSS twice: on a busy machine the
            # thread may wait far longer than its interval for a core or the GIL.
            _wait_for_samples(sampler, sampler.samples + 2)
        else:
            time.sleep(0.05)
        block.close()
        peak = sampler.take_peak()
    assert peak - before > 48 * 2**20
    assert sampler.peak >= peak


def _wait_for_samples(sampler, count, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while sampler.samples < count:
        assert time.monotonic() < deadline, f"sampler thread took no reading in {timeout_s:g} s"
        time.sleep(0.005)


def test_cpu_clock_counts_busy_time():
    clock = measure.CpuClock()
    start = time.process_time()
    while time.process_time() - start < 0.05:  # spin until 50 ms of CPU are spent
        pass
    wall, cpu = clock.lap()
    assert cpu >= 0.05 and wall >= cpu * 0.9
    time.sleep(0.05)  # sleeping costs wall time, not CPU
    wall, cpu = clock.lap()
    assert wall >= 0.05 and cpu < 0.04


def test_path_size_of_a_file_and_a_folder(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 500)
    assert measure.path_size_bytes(tmp_path / "a.bin") == 1000
    assert measure.path_size_bytes(tmp_path) == 1500
    assert measure.path_size_bytes(tmp_path / "missing") is None


def test_machine_info_names_cpu_cores_and_ram():
    info = measure.machine_info()
    assert info["cpu"] and info["logical_cores"] >= 1 and info["ram_gib"] > 0


def test_energy_follows_the_documented_formula(monkeypatch):
    monkeypatch.setenv("LMSCAPE_CPU_TDP_WATTS", "30")
    monkeypatch.setenv("LMSCAPE_GRID_GCO2_PER_KWH", "250")
    e = energy.estimate(cpu_s=120.0, wall_s=100.0, cores=2)
    assert e.utilisation == pytest.approx(0.6)
    assert e.kwh == pytest.approx(0.6 * 30 * 100 / 3.6e6)
    assert e.gco2e == pytest.approx(e.kwh * 250)
    assert "30 W" in e.method and "250 gCO2e/kWh" in e.method and "RAPL" in e.method


def test_utilisation_is_capped_and_zero_wall_is_zero():
    assert energy.estimate(cpu_s=10, wall_s=1, cores=2).utilisation == 1.0
    assert energy.estimate(cpu_s=1, wall_s=0, cores=2).kwh == 0.0


def test_local_cost_uses_the_hardware_price(monkeypatch):
    monkeypatch.setenv("LMSCAPE_HARDWARE_USD_PER_HOUR", "3.6")
    assert cost.local_cost_usd(10.0) == pytest.approx(0.01)
    model = cost.CostModel(is_local=True, price=None,
                           usd_per_hour=load_settings().hardware_usd_per_hour)
    assert model.item_cost(wall_s=1.0, prompt_tokens=999, completion_tokens=999) == \
        pytest.approx(0.001)


def test_remote_cost_uses_catalog_list_prices():
    price = cost.list_price("gpt-4o")
    assert price is not None and price.input_per_mtok > 0
    model = cost.CostModel(is_local=False, price=price, usd_per_hour=0.1)
    got = model.item_cost(wall_s=100.0, prompt_tokens=1000, completion_tokens=100)
    assert got == pytest.approx((1000 * price.input_per_mtok + 100 * price.output_per_mtok) / 1e6)
    assert cost.list_price("no-such-model") is None
    unpriced = cost.CostModel(is_local=False, price=None, usd_per_hour=0.1)
    assert unpriced.item_cost(wall_s=1, prompt_tokens=1, completion_tokens=1) is None
    assert "no list price" in unpriced.basis


def test_process_peak_survives_the_samplers_resets():
    """The runner resets the kernel's peak mark per batch; the process's peak (what
    `lmscape bench` prints) still counts what happened before a reset."""
    base = measure.process_usage()
    with measure.RssSampler() as sampler:
        sampler.take_peak()
        rss_before = measure.psutil.Process().memory_info().rss
        block = np.ones(96 * 2**20 // 8)  # 96 MiB, touched
        del block
        sampler.take_peak()  # resets the kernel mark
        sampler.take_peak()
    usage = measure.process_usage()
    assert usage.peak_rss_bytes >= rss_before + 80 * 2**20
    assert usage.peak_rss_bytes >= base.peak_rss_bytes
    assert usage.cpu_s >= base.cpu_s and usage.wall_s >= base.wall_s > 0

"""The hardware table: shipped facts present and sane, and model strings from real machines resolve to the right device."""

import pytest
import yaml

from harness.catalogue.hardware import Device, device_for_machine, find_device, load_hardware, max_bandwidth_gbs
from harness.errors import MeekError

REQUIRED = {
    "rtx-3060-12gb",
    "rtx-3090",
    "rtx-4060-ti-16gb",
    "rtx-4070-ti-super",
    "rtx-4080-super",
    "rtx-4090",
    "rtx-5060-ti-16gb",
    "rtx-5070-ti",
    "rtx-5080",
    "rtx-5090",
    "rx-7900-xtx",
    "rx-7900-xt",
    "rx-9070-xt",
    "arc-b580",
    "arc-a770-16gb",
    "ryzen-ai-max-395",
    "dgx-spark",
    "apple-m4-pro",
    "apple-m4-max",
    "apple-m3-ultra",
    "apple-m2-ultra",
    "apple-m1-max",
    "apple-m2-max",
    "ryzen-7-7800x3d",
    "ryzen-9-7950x",
    "ryzen-9-9950x",
    "core-i9-14900k",
    "core-ultra-9-285k",
    "ryzen-7-5800x3d",
}
DATACENTER = {"a100-80gb-pcie", "a100-80gb-sxm", "h100-pcie", "h100-sxm", "h200-sxm"}


def test_table_covers_what_people_buy():
    devices = load_hardware()
    ids = [d.id for d in devices]
    assert len(devices) >= 25
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids)
    assert {d.kind for d in devices} == {"gpu", "unified", "cpu"}
    for device in devices:
        assert device.sources and all(url.startswith("https://") for url in device.sources), device.id
        assert device.bandwidth_gbs > 0 and device.power_w > 0, device.id
        assert device.launch_price_usd > 0, device.id
        # datacenter parts have no list price: theirs must be flagged as a best guess
        assert device.id not in DATACENTER or "launch_price_usd" in device.unverified, device.id
        assert (device.memory_gb is None) == (device.kind == "cpu"), device.id


def test_figures_people_quote():
    by_id = {d.id: d for d in load_hardware()}
    assert by_id["rtx-4090"].bandwidth_gbs == 1008 and by_id["rtx-4090"].memory_gb == 24
    assert by_id["rtx-5090"].bandwidth_gbs == 1792 and by_id["rtx-5090"].launch_price_usd == 1999
    assert by_id["apple-m3-ultra"].bandwidth_gbs == 819
    assert by_id["dgx-spark"].bandwidth_gbs == 273 and by_id["ryzen-ai-max-395"].bandwidth_gbs == 256
    # dual-channel DDR5-5200: 5200 MT/s x 2 channels x 8 bytes
    assert by_id["ryzen-9-7950x"].bandwidth_gbs == pytest.approx(5200e6 * 2 * 8 / 1e9)
    # every CPU is a desktop part on two channels: nothing faster than DDR5-6400 x 2
    assert max_bandwidth_gbs("cpu") <= 102.4 < min(d.bandwidth_gbs for d in load_hardware() if d.kind == "unified")
    assert max_bandwidth_gbs() >= max_bandwidth_gbs("gpu") >= 1792


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NVIDIA GeForce RTX 3060", "rtx-3060-12gb"),
        ("NVIDIA GeForce RTX 3060 Ti", "rtx-3060-ti"),
        ("NVIDIA GeForce RTX 4080 SUPER", "rtx-4080-super"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("AMD Ryzen 9 7950X 16-Core Processor", "ryzen-9-7950x"),
        ("AMD Ryzen 7 7800X3D 8-Core Processor", "ryzen-7-7800x3d"),
        ("Intel(R) Core(TM) Ultra 9 285K", "core-ultra-9-285k"),
        ("14th Gen Intel(R) Core(TM) i9-14900K", "core-i9-14900k"),
        ("Apple M4 Max", "apple-m4-max"),
        ("Apple M4", "apple-m4"),
        ("AMD RYZEN AI MAX+ 395 w/ Radeon 8060S", "ryzen-ai-max-395"),
        ("AMD GPU 0x1586", "ryzen-ai-max-395"),
        ("NVIDIA GB10", "dgx-spark"),
        ("AMD Radeon RX 7900 XT", "rx-7900-xt"),
        ("AMD Radeon RX 7900 XTX", "rx-7900-xtx"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        # names as llama.cpp's scoreboards publish them
        ("NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition", "rtx-pro-6000-blackwell-max-q"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "rtx-pro-6000-blackwell"),
        ("NVIDIA RTX PRO 4000 Blackwell", "rtx-pro-4000-blackwell"),
        ("AMD Radeon AI PRO R9700", "radeon-ai-pro-r9700"),
        ("Radeon AI PRO R9700", "radeon-ai-pro-r9700"),
        ("AMD Instinct MI100", "instinct-mi100"),
        ("RTX 4060 Ti 8GB", "rtx-4060-ti-8gb"),
        ("NVIDIA GeForce RTX 4060 Ti", "rtx-4060-ti-16gb"),
        ("AMD Radeon RX 9070", "rx-9070"),
        ("RX 9070 XT", "rx-9070-xt"),
        ("RTX 5090 (Vulkan)", "rtx-5090"),
        ("NVIDIA DGX Spark", "dgx-spark"),
    ],
)
def test_find_device_on_real_model_strings(name, expected):
    device = find_device(name)
    assert device is not None and device.id == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "NVIDIA GeForce GTX 1080",
        "AMD Ryzen 9 7950X3D 16-Core Processor",
        "Apple M3 Pro",
        "Intel(R) Xeon(R) CPU @ 2.20GHz",
        "H100 80GB",
        "Intel Core Ultra 200-series iGPU",
    ],
)
def test_unknown_names_match_nothing(name):
    assert find_device(name) is None


def machine(cpu: str, gpus: list[dict], unified: bool = False) -> dict:
    return {"cpu": {"model": cpu, "arch": "x86_64"}, "gpus": gpus, "unified_memory": unified, "memory_bytes": 64 * 2**30}


def test_device_for_machine():
    rtx = [{"vendor": "nvidia", "name": "NVIDIA GeForce RTX 4090", "memory_bytes": 24 * 2**30}]
    gaming_pc = machine("AMD Ryzen 9 7950X 16-Core Processor", rtx)
    assert device_for_machine(gaming_pc, gpu_offload=True).id == "rtx-4090"
    assert device_for_machine(gaming_pc, gpu_offload=False).id == "ryzen-9-7950x"
    cpu_only = machine("AMD Ryzen 7 5800X3D 8-Core Processor", [])
    assert device_for_machine(cpu_only, gpu_offload=True).id == "ryzen-7-5800x3d"
    # an unknown card is not replaced by the CPU's figures: the weights were in the card's memory
    assert device_for_machine(machine("AMD Ryzen 9 7950X 16-Core Processor", [{"name": "NVIDIA TITAN V"}]), True) is None
    assert device_for_machine(machine("Intel(R) Xeon(R) CPU @ 2.20GHz", rtx), gpu_offload=False) is None
    # unified memory: the DGX Spark's Arm CPU names nothing, its GPU names the box; Apple names the chip both ways
    spark = machine("aarch64", [{"vendor": "nvidia", "name": "NVIDIA GB10", "memory_bytes": None}])
    assert device_for_machine(spark, gpu_offload=False).id == "dgx-spark"
    mac = machine("Apple M3 Ultra", [{"vendor": "apple", "name": "Apple M3 Ultra", "unified_memory": True}], unified=True)
    assert device_for_machine(mac, gpu_offload=True).id == device_for_machine(mac, gpu_offload=False).id == "apple-m3-ultra"
    assert device_for_machine({}, gpu_offload=True) is None


def test_malformed_table_is_a_clear_error(tmp_path):
    good = load_hardware()[0].model_dump(mode="json")
    cases = {
        "not yaml": "devices: [",
        "no devices key": "gpus: []",
        "unknown field": {"devices": [{**good, "colour": "black"}]},
        "duplicate id": {"devices": [good, {**good, "match": ["something else"]}]},
        "shared pattern": {"devices": [good, {**good, "id": "other"}]},
        "cpu with memory": {"devices": [{**good, "kind": "cpu"}]},
    }
    for label, content in cases.items():
        path = tmp_path / f"{label.replace(' ', '-')}.yaml"
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
        with pytest.raises(MeekError, match="hardware table"):
            load_hardware(path)
    assert isinstance(load_hardware(), list) and isinstance(load_hardware()[0], Device)

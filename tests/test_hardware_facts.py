"""Device facts (CPU, NVIDIA, Jetson, software), `hwdiff devices --local`, throttling, device spec errors."""

from __future__ import annotations

import json
import os

import pytest

from hwdiff.hardware.facts import (
    ThrottleMonitor,
    cpu_facts,
    decode_nvml_reasons,
    jetson_facts,
    local_facts,
    nvidia_facts,
    physical_cores,
)

CPUINFO = "".join(
    f"processor\t: {i}\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: {i // 2}\n"
    f"flags\t\t: fpu sse avx\n\n" for i in range(4)
)


def fake_root(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_cpu_facts_of_this_machine():
    facts = cpu_facts()
    assert isinstance(facts["model"], str) and facts["model"]
    assert facts["physical_cores"] >= 1 and facts["usable_cpus"] >= 1
    assert len(facts["load_average"]) == 3
    for key in ("governor", "frequency", "thermal_throttle_counts"):
        assert key in facts  # a value, or {"missing": why}


def test_cpu_facts_from_the_kernel_files(tmp_path):
    root = fake_root(tmp_path, {
        "proc/cpuinfo": CPUINFO,
        "proc/meminfo": "MemTotal:       16384000 kB\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "2400000\n",
        "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "3500000\n",
        "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count": "3\n",
    })
    facts = cpu_facts(root)
    assert facts["model"] == "Test CPU 9000" and facts["logical_cpus"] == 4
    assert facts["governor"] == "performance"
    assert facts["frequency"] == {"current_mhz": 2400, "max_mhz": 3500}
    assert facts["memory_gib"] == pytest.approx(15.6, abs=0.1)
    assert facts["thermal_throttle_counts"] == {"cpu0/core_throttle_count": 3}
    assert facts["virtual_machine"] is False
    usable = len(os.sched_getaffinity(0))
    assert physical_cores(root) == max(1, usable // 2)  # two hyper-threads per core in this cpuinfo


def test_missing_sources_are_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvpmodel, no jetson_clocks
    facts = jetson_facts(tmp_path)
    assert facts["l4t_release"] == {"missing": "/etc/nv_tegra_release not found"}
    assert facts["nvpmodel"] == {"missing": "`nvpmodel` not found on PATH"}
    assert "missing" in cpu_facts(tmp_path)["governor"]
    gpus = nvidia_facts()
    assert "missing" in gpus or all("name" in g for g in gpus["gpus"])


def test_jetson_facts_from_the_board_files_and_tools(tmp_path, monkeypatch):
    root = fake_root(tmp_path, {
        "etc/nv_tegra_release": "# R36 (release), REVISION: 3.0, GCID: 1, BOARD: generic, EABI: aarch64\n",
        "proc/device-tree/model": "NVIDIA Jetson AGX Orin Developer Kit\x00",
    })
    tools = tmp_path / "bin"
    tools.mkdir()
    nvpmodel = tools / "nvpmodel"
    nvpmodel.write_text("#!/bin/sh\necho 'NV Power Mode: MAXN'\necho 0\n")
    clocks = tools / "jetson_clocks"
    clocks.write_text("#!/bin/sh\necho 'needs root' >&2\nexit 1\n")
    for tool in (nvpmodel, clocks):
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    facts = jetson_facts(root)
    assert facts["l4t_release"].startswith("# R36 (release), REVISION: 3.0")
    assert facts["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert facts["nvpmodel"] == {"output": "NV Power Mode: MAXN\n0"}
    assert facts["jetson_clocks"] == {"missing": "`jetson_clocks --show` exited 1: needs root"}


def test_throttling_is_reported(tmp_path):
    counter = tmp_path / "sys/devices/system/cpu/cpu1/thermal_throttle/package_throttle_count"
    fake_root(tmp_path, {str(counter.relative_to(tmp_path)): "5\n"})
    monitor = ThrottleMonitor(root=tmp_path)
    assert monitor.reasons() == []
    counter.write_text("9\n")
    assert monitor.reasons() == ["CPU thermal throttling (1 counter(s) rose: cpu1/package_throttle_count)"]
    assert decode_nvml_reasons(0x1 | 0x4 | 0x40) == ["software power cap", "hardware thermal slowdown"]
    assert decode_nvml_reasons(0x1, include_benign=True) == ["GPU idle"]


def test_local_facts_are_json():
    facts = json.loads(json.dumps(local_facts()))
    assert set(facts) >= {"collected", "cpu", "nvidia", "jetson", "software"}
    assert facts["software"]["torch"]


def test_devices_local(cli):
    result = cli("devices", "--local", "--json")
    assert result.code == 0, result.err
    facts = json.loads(result.out)
    assert facts["backends"]["cpu"]["pytorch"] == "ok" and facts["backends"]["cpu"]["onnxruntime"] == "ok"
    assert set(facts["backends"]["cuda"]) == {"pytorch", "pytorch-compile", "onnxruntime", "onnxruntime-trt",
                                              "tensorrt"}
    table = cli("devices", "--local")
    assert table.code == 0 and "cpu.model" in table.out and "backend.tensorrt (cuda)" in table.out


SPEC = 'name = "{name}"\nkind = "cpu"\ndescription = "a board"\n\n[profiling]\nbackend = "pytorch"\n{extra}'
BAD_SPECS = [
    ("typo", SPEC.format(name="typo", extra='precison = "fp32"\n'),
     "line 7: unknown key 'precison' in [profiling]; accepted: backend, precision, batch_size, threads"),
    ("toplevel", 'name = "toplevel"\ncolour = "red"\n' + SPEC.format(name="toplevel", extra="").split("\n", 1)[1],
     "line 2: unknown key 'colour' in the top level"),
    ("syntax", SPEC.format(name="syntax", extra="threads = = 2\n"), "line 7: not valid TOML"),
    ("unclosed", 'name = "unclosed"\n[profiling\n', "line 2: not valid TOML"),
    ("batch", SPEC.format(name="batch", extra="batch_size = 0\n"), "line 7: batch_size must be at least 1"),
    ("wrongtype", SPEC.format(name="wrongtype", extra='threads = "two"\n'),
     "line 7: 'threads' in [profiling] must be an integer"),
    ("table", SPEC.format(name="table", extra='[tables.nb201]\nfile = "x.json"\nlisence = "MIT"\n'),
     "line 9: unknown key 'lisence' in [tables.nb201]"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_device_spec_names_file_and_line(cli, hwdiff_home, name, text, message):
    folder = hwdiff_home / "devices"
    folder.mkdir(parents=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    result = cli("profile", "--device", name)
    assert result.code == 2, result.err
    assert result.err.startswith(f"error: device spec {path} {message}"), result.err
    assert len(result.err.strip().splitlines()) == 1
    listing = cli("devices")
    assert listing.code == 0 and f"warning: device spec {path} {message.split(':')[0]}" in listing.err


def test_good_user_spec_sets_profiling_defaults(hwdiff_home):
    from hwdiff.hardware.profiling import plan_profile

    folder = hwdiff_home / "devices"
    folder.mkdir(parents=True)
    (folder / "my-box.toml").write_text(SPEC.format(name="my-box", extra="threads = 1\nbatch_size = 2\n")
                                        .replace('backend = "pytorch"', 'backend = "onnxruntime"'))
    plan = plan_profile("my-box")
    assert (plan.backend, plan.batch_size, plan.threads, plan.target) == ("onnxruntime", 2, 1, "cpu")
    overridden = plan_profile("my-box", backend="pytorch", batch_size=1, threads=2)
    assert (overridden.backend, overridden.batch_size, overridden.threads) == ("pytorch", 1, 2)
    assert overridden.filename == "my-box-nb201-pytorch-fp32-b1.json"


def test_device_and_profile_commands_import_no_torch_at_module_level():
    """`hwdiff devices`, `hwdiff profiles` and the --help of the deploy commands must start without torch or timm:
    these modules import them only inside the functions that compute (what `python -X importtime` confirms once
    every package they reach does the same)."""
    import ast
    from pathlib import Path

    import hwdiff

    root = Path(hwdiff.__file__).parent
    modules = ["cli/devices.py", "cli/profiles.py", "cli/export.py", "cli/bench.py", "cli/finetune.py",
               "deploy/finetune_config.py", "hardware/devices.py", "hardware/profiles.py", "hardware/lut.py",
               "hardware/facts.py", "hardware/backends.py", "hardware/onnx_writer.py", "hardware/trt_engine.py",
               "hardware/ssh.py", "hardware/remote.py", "hardware/table_import.py", "metrics.py", "storage.py"]
    found = []
    for module in modules:
        for node in ast.parse((root / module).read_text(encoding="utf-8")).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{module}: {n}" for n in names if n.split(".")[0] in ("torch", "timm", "torchvision")]
    assert found == []

"""The verdicts of ``whisperd doctor``, branch by branch (pure functions: no GPU or network needed)."""

from __future__ import annotations

from whisperd.cli.diagnosis import (
    Check,
    check_cuda,
    check_discovery,
    check_health,
    check_model,
    check_packages,
    check_port,
    check_python,
    check_round_trip,
    check_unit,
    exit_code,
    format_check,
    pinned_requirements,
)


def statuses(checks: list[Check]) -> list[str]:
    return [f"{c.name}:{c.status}" for c in checks]


def test_python() -> None:
    assert check_python((3, 11, 7)).status == "ok"
    old = check_python((3, 10, 12))
    assert old.status == "fail"
    assert old.fix is not None
    assert "3.11" in old.fix


def test_packages() -> None:
    pins = pinned_requirements(["ctranslate2==4.8.5", "numpy>=1.26", 'pytest==9; extra == "dev"', "httpx"])
    assert pins == {"ctranslate2": ("==", "4.8.5"), "numpy": (">=", "1.26"), "httpx": None}
    good = {"ctranslate2": "4.8.5", "numpy": "2.1.0", "httpx": "0.28.1"}
    assert check_packages("0.1.0", pins, good).status == "ok"
    assert check_packages(None, pins, good).status == "fail"
    missing = check_packages("0.1.0", pins, {**good, "ctranslate2": None})
    assert missing.status == "fail"
    assert "ctranslate2" in missing.detail
    drift = check_packages("0.1.0", pins, {**good, "ctranslate2": "4.4.0", "numpy": "1.24.4"})
    assert drift.status == "warn"
    assert "ctranslate2 4.4.0 (pinned 4.8.5)" in drift.detail
    assert "numpy 1.24.4 (needs >= 1.26)" in drift.detail


def test_cuda_every_combination() -> None:
    gpu = ["NVIDIA GeForce RTX 3090, 550.54, 24576 MiB"]
    assert statuses(check_cuda("auto", 1, "/usr/bin/nvidia-smi", gpu)) == ["nvidia-smi:ok", "CUDA:ok"]
    assert statuses(check_cuda("auto", 0, None, None)) == ["nvidia-smi:info", "CUDA:ok"]
    # The classic broken GPU box: the driver works, CTranslate2 cannot load CUDA/cuDNN.
    hidden = check_cuda("auto", 0, "/usr/lib/wsl/lib/nvidia-smi", gpu)
    assert statuses(hidden) == ["nvidia-smi:ok", "CUDA:warn"]
    assert hidden[1].fix is not None
    assert "cudnn" in hidden[1].fix.lower()
    assert "/usr/lib/wsl/lib" in hidden[1].fix
    demanded = check_cuda("cuda", 0, "/usr/bin/nvidia-smi", gpu)
    assert statuses(demanded) == ["nvidia-smi:ok", "CUDA:fail"]
    no_driver = check_cuda("cuda", 0, None, None)
    assert no_driver[1].status == "fail"
    assert no_driver[1].fix is not None
    assert "driver" in no_driver[1].fix
    assert statuses(check_cuda("auto", 0, "/usr/bin/nvidia-smi", None)) == ["nvidia-smi:warn", "CUDA:ok"]
    assert "cpu (by configuration)" in check_cuda("cpu", 2, "/usr/bin/nvidia-smi", gpu)[1].detail


def test_model() -> None:
    assert check_model("base", ("pack x", "/cache/base"), None, ["base"]).status == "ok"
    missing = check_model("small", None, "not installed", ["tiny.en", "base"])
    assert missing.status == "fail"
    assert missing.fix is not None
    assert "tiny.en, base" in missing.fix
    assert "whisperd models pull small" in missing.fix


def test_port() -> None:
    assert check_port("127.0.0.1", 5000, None, None, None).status == "ok"
    assert check_port("127.0.0.1", 5000, "Address in use", "EADDRINUSE", "whisper-base").status == "ok"
    taken = check_port("127.0.0.1", 5000, "Address in use", "EADDRINUSE", None)
    assert taken.status == "fail"
    assert taken.fix is not None
    assert "WHISPERD_PORT" in taken.fix
    assert check_port("127.0.0.1", 80, "Permission denied", "EACCES", None).status == "fail"
    assert check_port("10.9.9.9", 5000, "Cannot assign", "EADDRNOTAVAIL", None).status == "fail"


def test_health_and_round_trip() -> None:
    body = {
        "status": "ok",
        "model": "whisper-base",
        "device": "cuda",
        "compute_type": "float16",
        "uptime_seconds": 9,
    }
    assert check_health("http://x", 200, body, None).status == "ok"
    assert "whisper-base on cuda/float16" in check_health("http://x", 200, body, None).detail
    assert (
        check_health("http://x", 503, {"status": "loading", "model": "whisper-base"}, None).status == "fail"
    )
    assert check_health("http://x", None, None, "Connection refused").status == "fail"
    assert check_health("http://x", 404, None, None).status == "fail"
    assert check_round_trip(200, 0.2, None).status == "ok"
    assert check_round_trip(200, 9.0, None).status == "warn"
    refused = check_round_trip(401, None, "Incorrect API key provided.")
    assert refused.status == "fail"
    assert refused.fix is not None
    assert "WHISPER_API_KEY" in refused.fix
    assert check_round_trip(200, None, "no text").status == "fail"
    assert check_round_trip(None, None, "timed out").status == "fail"


def test_unit() -> None:
    assert check_unit("/u", None, False).status == "info"
    assert check_unit("/u", ["/venv/bin/whisperd", "serve"], True).status == "ok"
    stale = check_unit("/u", ["/old/venv/bin/whisperd", "serve"], False)
    assert stale.status == "fail"
    assert "/old/venv/bin/whisperd" in stale.detail


def test_report_and_exit_code() -> None:
    ok = Check("a", "ok", "fine", "never shown")
    warn = Check("b", "warn", "hm", "do this")
    fail = Check("c", "fail", "broken", "do that")
    assert format_check(ok) == "[ ok ] a: fine"
    assert format_check(warn) == "[warn] b: hm\n       fix: do this"
    assert format_check(fail) == "[FAIL] c: broken\n       fix: do that"
    assert exit_code([ok, warn]) == 0
    assert exit_code([ok, warn, fail]) == 1


def test_discovery() -> None:
    assert check_discovery("http://10.0.0.2:5000", 3) == Check(
        "discovery", "ok", "found http://10.0.0.2:5000 on the LAN"
    )
    none = check_discovery(None, 3)
    assert none.status == "fail"
    assert none.fix is not None
    assert "--no-advertise" in none.fix
    assert "--server URL" in none.fix

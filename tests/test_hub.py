"""Hub reachability: offline answers come at once, and offline mode is undone."""

import huggingface_hub.constants as hub_constants

from analora import hub


def test_offline_flags_mean_unreachable(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.offline_requested() and not hub.hub_reachable()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    assert hub.offline_requested()


def test_unreachable_endpoint(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    # A closed port on this machine: refused at once.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    assert not hub.hub_reachable(timeout_s=1.0)


def test_offline_mode_is_restored() -> None:
    before = hub_constants.HF_HUB_OFFLINE
    with hub.offline_mode():
        assert hub_constants.HF_HUB_OFFLINE is True
    assert before == hub_constants.HF_HUB_OFFLINE

"""wandb online that cannot start (no key, no network) never ends a run: it goes on offline
with one warning, and summary.json says the mode it really ran in."""

from __future__ import annotations

import logging

import pytest
import wandb

from normbench.track import WandbRun, read_summary
from normbench.train import train


class FakeRun:
    def __init__(self, mode):
        self.id, self.mode, self.summary = f"fake-{mode}", mode, {}

    def log(self, metrics, step):
        pass

    def finish(self, exit_code=0):
        pass


@pytest.fixture
def no_key(monkeypatch):
    """wandb.init as it behaves without a key: online raises, offline works."""
    calls = []

    def init(mode, **kwargs):
        calls.append(mode)
        if mode == "online":
            raise wandb.errors.UsageError("api_key not configured (no-tty). call wandb.login(key=[your_api_key])")
        return FakeRun(mode)

    monkeypatch.setattr(wandb, "init", init)
    return calls


def test_online_without_a_key_falls_back_to_offline_with_one_warning(no_key, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run = WandbRun(mode="online", run_dir=tmp_path, config={}, project="p", name="n")
    assert no_key == ["online", "offline"] and run.mode == "offline" and run.id == "fake-offline"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "offline instead" in warnings[0].getMessage()
    assert "UsageError" in warnings[0].getMessage() and "wandb sync" in warnings[0].getMessage()


def test_offline_errors_are_not_hidden(monkeypatch, tmp_path):
    def init(mode, **kwargs):
        raise wandb.errors.UsageError("a broken install")

    monkeypatch.setattr(wandb, "init", init)
    with pytest.raises(wandb.errors.UsageError):  # offline failing has no fallback: say so
        WandbRun(mode="offline", run_dir=tmp_path, config={}, project="p", name="n")


def test_a_run_asked_online_without_a_key_trains_to_the_end(no_key, tiny_cfg, tmp_path):
    summary = train(tiny_cfg("logger.wandb.mode=online"), tmp_path)
    assert summary["status"] == "ok" and summary["step"] == 6
    assert read_summary(tmp_path / "summary.json")["wandb"] == {"mode": "offline", "id": "fake-offline"}

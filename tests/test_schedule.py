import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spikekit.schedule import DECAY_FRACTION, build_scheduler, lr_factor


def test_cosine_runs_from_one_to_zero_along_half_a_cosine() -> None:
    assert [lr_factor(step, 4, "cosine") for step in range(4)] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * step / 4)) for step in range(4)])


def test_wsd_holds_the_lr_then_decays_linearly_over_the_last_fifth() -> None:
    factors = [lr_factor(step, 100, "wsd") for step in range(100)]
    assert factors[:80] == [1.0] * 80
    assert factors[80:] == pytest.approx([(100 - step) / 20 for step in range(80, 100)])
    assert DECAY_FRACTION == 0.2


def test_warmup_ramps_linearly_then_hands_over() -> None:
    factors = [lr_factor(step, 100, "wsd", warmup=0.1) for step in range(12)]
    assert factors == pytest.approx([0.1 * (step + 1) for step in range(10)] + [1.0, 1.0])
    assert lr_factor(10, 100, "cosine", warmup=0.1) == 1.0


@given(st.integers(1, 5000), st.sampled_from(["cosine", "wsd"]), st.floats(0, 0.5))
def test_every_factor_is_in_0_1_and_the_last_step_is_small(total: int, kind: str, warmup: float) -> None:
    factors = [lr_factor(step, total, kind, warmup) for step in range(0, total, max(1, total // 50))]
    assert all(0.0 <= factor <= 1.0 for factor in factors)
    if total >= 50:
        assert lr_factor(total - 1, total, kind, warmup) <= 0.1  # the run ends at a small lr


def test_the_scheduler_sets_the_optimizer_lr_step_by_step() -> None:
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.5)
    scheduler = build_scheduler(optimizer, 10, "wsd", 0.2)
    seen = []
    for _ in range(10):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.5 * lr_factor(step, 10, "wsd", 0.2) for step in range(10)])


@pytest.mark.parametrize("kind, warmup", [("linear", 0.0), ("wsd", 1.0), ("wsd", -0.1)])
def test_bad_schedules_are_refused(kind: str, warmup: float) -> None:
    with pytest.raises(ValueError, match="schedule|warmup"):
        lr_factor(0, 10, kind, warmup)

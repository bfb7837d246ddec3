"""The entailment head: shapes, masking, label order."""

from __future__ import annotations

import pytest
import torch

from worker.errors import CheckpointError
from worker.model import EntailmentHead
from worker.names import ENTAILMENT_LABELS


def inputs(seed: int, rows: int = 4, dim: int = 8) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(rows, dim, generator=generator) for _ in range(4)]


@pytest.fixture
def head() -> EntailmentHead:
    torch.manual_seed(0)
    return EntailmentHead(projection_dim=8).eval()


def test_probabilities_are_distributions(head: EntailmentHead) -> None:
    present = torch.ones(4, 4, dtype=torch.bool)
    with torch.no_grad():
        probs = head.probabilities(*inputs(0), present)
    assert probs.shape == (4, len(ENTAILMENT_LABELS))
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(4))
    assert head.labels == ENTAILMENT_LABELS
    assert head.mlp[1].in_features == 4 * 8 + 4


def test_absent_modalities_do_not_leak(head: EntailmentHead) -> None:
    present = torch.tensor([[True, False, True, False]] * 4)
    first, second = inputs(1), inputs(2)
    # Same present features, different garbage where the modality is absent.
    second[0], second[2] = first[0], first[2]
    with torch.no_grad():
        torch.testing.assert_close(head(*first, present), head(*second, present))
        all_present = torch.ones(4, 4, dtype=torch.bool)
        assert not torch.allclose(head(*first, present), head(*first, all_present))


def test_reorder_outputs(head: EntailmentHead) -> None:
    present = torch.ones(4, 4, dtype=torch.bool)
    features = inputs(3)
    with torch.no_grad():
        before = head(*features, present)
        head.reorder_outputs({"NoEntailment": 0, "Contradictory": 1, "Implies": 2})
        after = head(*features, present)
    torch.testing.assert_close(after, before[:, [1, 2, 0]])
    with pytest.raises(CheckpointError):
        head.reorder_outputs({"Contradictory": 0, "Implies": 1, "NoEntailment": 1})

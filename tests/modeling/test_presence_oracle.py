"""PresenceOracle: SegViT inference with the true classes of each image in place of its own."""

import pytest
import torch
from test_segvit_model import NUM_CLASSES, random_inputs, tiny_segvit
from torch import nn

from segvit.analysis.presence_oracle import PresenceOracle, oracle_class_logits
from segvit.modeling.losses.atm_criterion import present_classes


def test_present_classes_skip_ignored_pixels():
    label = torch.tensor([[0, 3], [255, 3]])
    assert present_classes(label[None], 5, 255)[0].tolist() == [True, False, False, True, False]


def test_oracle_logits_are_one_hot_on_the_class_or_no_object():
    probs = oracle_class_logits(torch.tensor([True, False, True])).softmax(-1)[0]  # (3, 4)
    assert torch.equal(probs, torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]))


def test_oracle_predicts_only_the_classes_in_the_label_and_restores_the_model():
    torch.manual_seed(0)
    model = tiny_segvit().eval()
    (inputs,) = random_inputs([(48, 80)])
    label = torch.full((48, 80), 1)
    label[:, 40:] = 3
    label[:4] = 255
    inputs["sem_seg"] = label
    with torch.no_grad():
        (plain,) = model([inputs])
        (oracle,) = PresenceOracle(model)([inputs])
        (again,) = model([inputs])
    assert oracle["sem_seg"].shape == (NUM_CLASSES, 48, 80)
    assert set(oracle["sem_seg"].argmax(0).unique().tolist()) <= {1, 3}
    assert set(plain["sem_seg"].argmax(0).unique().tolist()) - {1, 3}  # random model: others too
    torch.testing.assert_close(again["sem_seg"], plain["sem_seg"])  # head_outputs restored


def test_clear_errors():
    with pytest.raises(TypeError, match="SegViT"):
        PresenceOracle(nn.Linear(2, 2))
    (inputs,) = random_inputs([(32, 32)], with_target=False)
    with pytest.raises(ValueError, match="sem_seg"):
        PresenceOracle(tiny_segvit().eval())([inputs])

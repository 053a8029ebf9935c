"""The MaskFormer query-collapse study (benchmarks/studies/maskformer_query_collapse.py): what it
measures holds on the real maskformer2 decoder, and it runs on a random tiny model."""

import torch

from benchmarks.common import build_model
from benchmarks.studies import maskformer_query_collapse as study


def tiny_maskformer():
    torch.manual_seed(0)
    return build_model(study.CONFIG)


def test_first_layer_gives_every_query_one_tgt_at_test_time_and_dropout_splits_it():
    model = tiny_maskformer()
    layer0 = model.sem_seg_head.predictor.transformer.decoder.layers[0]
    with torch.no_grad():
        layer0.self_attn.out_proj.bias.normal_()  # as after training: the bias is all tgt gets
    seen = []
    layer0.norm1.register_forward_hook(lambda m, i, o: seen.append(o[:, 0]))  # (Q, C)
    image = torch.rand(3, 64, 64) * 255
    with torch.no_grad():
        model.sem_seg_head(model.backbone(study.normalized(model, image)))
        model.sem_seg_head.train()
        model.sem_seg_head(model.backbone(study.normalized(model, image)))
    test, train = seen
    assert torch.allclose(test, test[:1].expand_as(test), atol=1e-5)  # one vector for all queries
    assert not torch.allclose(train, train[:1].expand_as(train), atol=1e-2)  # dropout's copies


def test_probe_reports_cosine_classes_and_ratio():
    model = tiny_maskformer()
    with torch.no_grad():
        result = study.probe(model, torch.rand(2, 3, 64, 64) * 255, dropout=False)
    assert set(result) == {"cosine", "query_classes", "image_classes", "ratio"}
    assert -1 <= result["cosine"] <= 1 and 1 <= result["query_classes"] <= 16
    assert result["ratio"] == 0  # at init the bias is zero: tgt is zero
    assert not model.sem_seg_head.training  # the study leaves the model in eval mode

"""ATM layers and heads: output contract, mask = head-mean of q k^T / sqrt(d_h), param counts."""

import math

import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from segvit.config import add_segvit_config
from segvit.modeling.heads.atm_head import ATMHead, ATMSingleStageHead
from segvit.modeling.heads.atm_layers import ATMCrossAttention
from segvit.modeling.losses.atm_criterion import ATMCriterion

C, D, HEADS, K = 64, 32, 4, 5
FEATURES = ["block11", "block7", "block5"]  # stage order, deepest first


def _tiny_head(**kwargs) -> ATMHead:
    return ATMHead(
        in_features=FEATURES, in_channels=C, num_classes=K, embed_dim=D, num_heads=HEADS, **kwargs
    )


def _features(grids, batch=2):
    return {name: torch.randn(batch, C, h, w) for name, (h, w) in zip(FEATURES, grids)}


def _num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


GRIDS = {
    "square": [(4, 4), (4, 4), (4, 4)],
    "non_square": [(4, 6), (4, 6), (4, 6)],
    "mixed": [(8, 12), (4, 6), (5, 7)],  # first stage finer, last stage odd and non-square
}


@pytest.mark.parametrize("grids", GRIDS.values(), ids=GRIDS.keys())
@pytest.mark.parametrize("training", [True, False])
def test_output_contract(grids, training):
    head = _tiny_head().train(training)
    out = head(_features(grids))
    h, w = grids[-1]
    assert set(out) == {"pred_logits", "pred_masks", "aux_outputs"}
    assert out["pred_logits"].shape == (2, K, K + 1)
    assert out["pred_masks"].shape == (2, K, h, w)
    assert len(out["aux_outputs"]) == len(FEATURES) - 1
    for aux in out["aux_outputs"]:
        assert set(aux) == {"pred_logits", "pred_masks"}
        assert aux["pred_logits"].shape == (2, K, K + 1)
        assert aux["pred_masks"].shape == (2, K, h, w)


def _reference_mask(layer, query, memory, hw):
    """Mean over heads of (q k^T) / sqrt(d_h) from the layer's q/k weights, as (B, K, h, w)."""
    attn = layer.cross_attn
    heads, dh = attn.num_heads, D // attn.num_heads
    q = query @ attn.q.weight.T + attn.q.bias  # (B, K, d)
    k = memory @ attn.k.weight.T + attn.k.bias  # (B, HW, d)
    q = q.reshape(q.shape[0], q.shape[1], heads, dh)
    k = k.reshape(k.shape[0], k.shape[1], heads, dh)
    sim = torch.einsum("bqnc,bpnc->bnqp", q, k) / math.sqrt(dh)  # (B, heads, K, HW)
    return sim.mean(dim=1).reshape(q.shape[0], q.shape[1], *hw)


def test_masks_are_attention_similarity_summed_over_stages():
    head = _tiny_head().eval()
    grids = GRIDS["mixed"]
    captured = []  # per stage: (LN1 output, cross-attn query, cross-attn memory)
    hooks = []
    for layers in head.decoders:
        last = layers[-1]
        record = {}
        captured.append(record)
        hooks.append(last.norm1.register_forward_hook(lambda m, a, o, r=record: r.update(ln1=o)))
        hooks.append(
            last.cross_attn.register_forward_hook(
                lambda m, a, o, r=record: r.update(query=a[0], memory=a[1])
            )
        )
    with torch.no_grad():
        out = head(_features(grids))
    for hook in hooks:
        hook.remove()

    size = grids[-1]
    cumulative = None
    expected = []
    for stage, (record, hw) in enumerate(zip(captured, grids)):
        # The mask is taken from the query after self-attention + LN1.
        assert torch.equal(record["query"], record["ln1"])
        mask = _reference_mask(head.decoders[stage][-1], record["ln1"], record["memory"], hw)
        mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
        cumulative = mask if cumulative is None else cumulative + mask
        expected.append(cumulative)
    got = [aux["pred_masks"] for aux in out["aux_outputs"]] + [out["pred_masks"]]
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_cross_attention_update_is_softmax_attention():
    attn = ATMCrossAttention(D, HEADS).eval()
    query, memory = torch.randn(2, K, D), torch.randn(2, 24, D)
    out, mask = attn(query, memory)
    assert out.shape == (2, K, D) and mask.shape == (2, K, 24)

    def split(x):  # (B, N, d) -> (B, heads, N, d_h)
        return x.reshape(x.shape[0], x.shape[1], HEADS, D // HEADS).transpose(1, 2)

    ref = F.scaled_dot_product_attention(
        split(attn.q(query)), split(attn.k(memory)), split(attn.v(memory))
    )
    ref = attn.proj(ref.transpose(1, 2).reshape(2, K, D))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_single_stage_head_supervises_every_layer_without_summing():
    head = ATMSingleStageHead(
        in_channels=D, num_classes=K, embed_dim=D, num_heads=HEADS, use_proj=False
    ).eval()
    masks = []
    hooks = [
        layer.register_forward_hook(lambda m, a, o: masks.append(o[1])) for layer in head.layers
    ]
    with torch.no_grad():
        out = head(torch.randn(2, D, 5, 7))
    for hook in hooks:
        hook.remove()
    got = [aux["pred_masks"] for aux in out["aux_outputs"]] + [out["pred_masks"]]
    assert len(got) == 3 and out["pred_logits"].shape == (2, K, K + 1)
    for mask, g in zip(masks, got):
        assert torch.equal(g, mask.reshape(2, K, 5, 7))


def test_init_follows_official():
    head = _tiny_head()
    assert torch.all(head.class_embed.bias == 0)
    assert torch.all(head.proj_norm[0].weight == 1) and torch.all(head.proj_norm[0].bias == 0)
    assert head.class_embed.weight.std() < 0.03  # trunc-normal(0.02)
    assert head.query_embed.weight.std() > 0.5  # nn.Embedding default N(0, 1)
    # nn.MultiheadAttention keeps its xavier in_proj init; its out_proj is an nn.Linear.
    layer = head.decoders[0][0]
    assert layer.self_attn.in_proj_weight.std() > 0.1
    assert layer.self_attn.out_proj.weight.std() < 0.03


def test_param_counts_match_official():
    vit_b = ATMHead(in_features=FEATURES, in_channels=768, num_classes=150)
    assert _num_params(vit_b) == 22_303_255
    del vit_b
    vit_l = ATMHead(
        in_features=FEATURES, in_channels=1024, num_classes=150, embed_dim=512, num_heads=16
    )
    assert _num_params(vit_l) == 39_568_023
    del vit_l
    # Shrunk ViT-L: the single-stage ATM after QU (no input projection).
    single = ATMSingleStageHead(
        in_channels=512, num_classes=150, embed_dim=512, num_heads=16, use_proj=False
    )
    assert _num_params(single) == 12_766_359


@pytest.mark.parametrize("single_stage", [False, True])
def test_every_parameter_gets_a_gradient(single_stage):
    if single_stage:
        head = ATMSingleStageHead(in_channels=C, num_classes=K, embed_dim=D, num_heads=HEADS)
        out = head(torch.randn(2, C, 4, 6))
    else:
        head = _tiny_head()
        out = head(_features(GRIDS["mixed"]))
    target = torch.randint(0, K, (2, 20, 28))
    target[:, :3] = 255
    losses = ATMCriterion(num_classes=K)(out, target)
    sum(losses.values()).backward()
    # (The key bias of a cross-attention whose mask is unused gets a mathematically zero gradient,
    # softmax being shift-invariant, so only presence and finiteness are checked.)
    for name, p in head.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_from_config():
    cfg = add_segvit_config(get_cfg())
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = K
    cfg.MODEL.SEGVIT.ATM.EMBED_DIM = D
    cfg.MODEL.SEGVIT.ATM.NUM_HEADS = HEADS
    shapes = {name: ShapeSpec(channels=C, stride=16) for name in FEATURES}
    head = SEM_SEG_HEADS_REGISTRY.get("ATMHead")(cfg, shapes)
    assert isinstance(head, ATMHead)
    assert head.in_features == FEATURES and head.num_classes == K
    assert head(_features(GRIDS["non_square"]))["pred_masks"].shape == (2, K, 4, 6)
    with pytest.raises(ValueError, match="block7"):
        SEM_SEG_HEADS_REGISTRY.get("ATMHead")(cfg, {"block11": shapes["block11"]})


def test_bad_arguments():
    with pytest.raises(ValueError, match="use_proj"):
        _tiny_head(use_proj=False)
    with pytest.raises(ValueError, match="divisible"):
        ATMCrossAttention(30, 4)

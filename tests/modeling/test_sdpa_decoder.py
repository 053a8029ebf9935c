"""nn.TransformerDecoderLayer through scaled_dot_product_attention (the QU decoders): same outputs,
gradients, parameter names and fvcore FLOPs as the layer's own forward."""

import pytest
import torch
from test_qu_head import tiny_qu_head
from torch import nn

from segvit.analysis.flops import count_flops
from segvit.modeling.heads import qu_head
from segvit.modeling.heads.sdpa_decoder import decoder_layer_forward, supports_sdpa


def layer(norm_first=False, dropout=0.1) -> nn.TransformerDecoderLayer:
    return nn.TransformerDecoderLayer(
        32, 4, dim_feedforward=64, dropout=dropout, batch_first=True, norm_first=norm_first
    )


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("num_memory", [30, 7])
def test_eval_outputs_equal_the_layers_own_forward(norm_first, num_memory):
    decoder = layer(norm_first).eval()
    query, memory = torch.randn(2, 30, 32), torch.randn(2, num_memory, 32)
    with torch.no_grad():  # the fused fast path of nn.MultiheadAttention
        expected = decoder(query, memory)
        got = decoder_layer_forward(decoder, query, memory)
    assert (got - expected).abs().max() <= 1e-5
    torch.testing.assert_close(decoder_layer_forward(decoder, query, memory), expected)


def test_training_without_dropout_gives_the_same_outputs_and_gradients():
    decoder = layer(dropout=0.0).train()
    query, memory = torch.randn(2, 12, 32), torch.randn(2, 5, 32)
    expected = decoder(query, memory)
    grads = torch.autograd.grad(expected.square().sum(), list(decoder.parameters()))
    got = decoder_layer_forward(decoder, query, memory)
    sdpa_grads = torch.autograd.grad(got.square().sum(), list(decoder.parameters()))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    for a, b in zip(sdpa_grads, grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_training_applies_attention_dropout():
    decoder = layer(dropout=0.5).train()
    query, memory = torch.randn(1, 12, 32), torch.randn(1, 5, 32)
    first, second = (decoder_layer_forward(decoder, query, memory) for _ in range(2))
    assert not torch.allclose(first, second)


def test_layers_it_cannot_reproduce_fall_back_to_their_own_forward():
    decoder = layer().eval()
    decoder.self_attn = nn.MultiheadAttention(32, 4, batch_first=True, add_bias_kv=True).eval()
    assert not supports_sdpa(decoder)
    query, memory = torch.randn(1, 6, 32), torch.randn(1, 5, 32)
    torch.testing.assert_close(
        decoder_layer_forward(decoder, query, memory), decoder(query, memory)
    )


class _OwnForward(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, query, memory):
        return self.decoder(query, memory)


class _SdpaForward(_OwnForward):
    def forward(self, query, memory):
        return decoder_layer_forward(self.decoder, query, memory)


def test_fvcore_counts_the_same_flops():
    decoder = layer().eval()
    inputs = (torch.randn(1, 40, 32), torch.randn(1, 10, 32))
    own = count_flops(_OwnForward(decoder), inputs).total
    sdpa = count_flops(_SdpaForward(decoder), inputs).total
    embed, nq, nk, ffn = 32, 40, 10, 64
    attention = 4 * nq * embed**2 + 2 * nq * nq * embed  # self: projections + two matmuls
    attention += (2 * nq + 2 * nk) * embed**2 + 2 * nq * nk * embed  # cross
    layer_norms = 3 * nq * embed * 5  # fvcore's LayerNorm handle: 5 per element
    assert sdpa == own == attention + 2 * nq * embed * ffn + layer_norms


def test_qu_head_keeps_its_parameter_names_and_outputs(monkeypatch):
    head = tiny_qu_head().eval()
    names = set(head.state_dict())
    assert "qu_decoders.1.1.self_attn.in_proj_weight" in names
    assert "qu_decoders.0.0.multihead_attn.out_proj.weight" in names
    features = {"block1": torch.randn(1, 64, 4, 4), "block3": torch.randn(1, 64, 2, 2)}
    with torch.no_grad():
        got = head(features)
        monkeypatch.setattr(qu_head, "decoder_layer_forward", lambda layer, q, m: layer(q, m))
        expected = head(features)
    assert (got["pred_masks"] - expected["pred_masks"]).abs().max() <= 1e-5
    assert (got["pred_logits"] - expected["pred_logits"]).abs().max() <= 1e-5

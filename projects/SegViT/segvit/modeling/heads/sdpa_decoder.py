"""``nn.TransformerDecoderLayer`` computed through ``F.scaled_dot_product_attention``.

The QU decoders of the Shrunk head (``qu_head.QUATMHead``) run self- and cross-attention over
1,600 queries (ViT-L at 640). In eval mode ``nn.MultiheadAttention`` takes PyTorch's fused CPU path,
which materialises the (heads, N, N) attention and its softmax: memory-bound, it ran the QU head at
about two thirds of the backbone's FLOP rate (``benchmarks/speed.md``). Here the same layer, with
its own parameters (so state-dict keys and checkpoints are unchanged), runs its two attentions
through ``F.scaled_dot_product_attention``, whose CPU kernel works on blocks of keys and never
holds the whole attention matrix.

Same computation: the input projection split into q / k / v as ``nn.MultiheadAttention`` does
(``in_proj_weight`` rows [0, E), [E, 2E), [2E, 3E)), scaling 1 / sqrt(head_dim), the attention
dropout of the module in training, the output projection, then the layer's post- or pre-norm
residual blocks and feed-forward network. Same FLOP count for fvcore: the projections are
``F.linear`` calls and the attention one ``aten::scaled_dot_product_attention`` (counted by
``segvit.analysis.flops``) of ``2 N_q N_k E`` multiply-adds, as the fused path's handle counts them.
"""

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["multihead_attention", "decoder_layer_forward", "supports_sdpa"]


def supports_sdpa(layer: nn.TransformerDecoderLayer) -> bool:
    """True when both attentions of ``layer`` are plain batch-first ``nn.MultiheadAttention``s
    that this module reproduces (one packed input projection, no extra k/v biases)."""
    return all(
        attn.batch_first
        and attn._qkv_same_embed_dim
        and attn.bias_k is None
        and attn.bias_v is None
        and not attn.add_zero_attn
        for attn in (layer.self_attn, layer.multihead_attn)
    )


def multihead_attention(attn: nn.MultiheadAttention, query: Tensor, memory: Tensor) -> Tensor:
    """``attn(query, memory, memory, need_weights=False)[0]`` through SDPA, without masks.

    Args:
        attn: a batch-first ``nn.MultiheadAttention`` (see :func:`supports_sdpa`).
        query: (B, Nq, E); memory: (B, Nk, E) keys and values (``memory is query`` for
            self-attention, which then uses one packed projection).
    Returns:
        (B, Nq, E) attention output after the output projection.
    """
    batch, num_queries, embed = query.shape
    heads = attn.num_heads
    weight, bias = attn.in_proj_weight, attn.in_proj_bias
    if memory is query:
        q, k, v = F.linear(query, weight, bias).chunk(3, dim=-1)
    else:
        w_q, w_kv = weight.split([embed, 2 * embed])
        b_q, b_kv = bias.split([embed, 2 * embed]) if bias is not None else (None, None)
        q = F.linear(query, w_q, b_q)
        k, v = F.linear(memory, w_kv, b_kv).chunk(2, dim=-1)

    def split_heads(x: Tensor) -> Tensor:  # (B, N, E) -> (B, heads, N, E / heads)
        return x.unflatten(-1, (heads, embed // heads)).transpose(1, 2)

    dropout = attn.dropout if attn.training else 0.0
    out = F.scaled_dot_product_attention(
        split_heads(q), split_heads(k), split_heads(v), None, dropout
    )
    out = out.transpose(1, 2).reshape(batch, num_queries, embed)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def decoder_layer_forward(layer: nn.TransformerDecoderLayer, tgt: Tensor, memory: Tensor) -> Tensor:
    """``layer(tgt, memory)`` (no masks) with both attentions through :func:`multihead_attention`.

    Args:
        layer: a batch-first ``nn.TransformerDecoderLayer`` (post-norm or ``norm_first``).
        tgt: (B, Nq, E) queries; memory: (B, Nk, E).
    Returns:
        (B, Nq, E), the layer's output (same parameters, same dropouts).
    """
    if not supports_sdpa(layer):
        return layer(tgt, memory)

    def self_attention(x: Tensor) -> Tensor:
        return layer.dropout1(multihead_attention(layer.self_attn, x, x))

    def cross_attention(x: Tensor) -> Tensor:
        return layer.dropout2(multihead_attention(layer.multihead_attn, x, memory))

    def feed_forward(x: Tensor) -> Tensor:
        hidden = layer.dropout(layer.activation(layer.linear1(x)))
        return layer.dropout3(layer.linear2(hidden))

    x = tgt
    if layer.norm_first:
        x = x + self_attention(layer.norm1(x))
        x = x + cross_attention(layer.norm2(x))
        return x + feed_forward(layer.norm3(x))
    x = layer.norm1(x + self_attention(x))
    x = layer.norm2(x + cross_attention(x))
    return layer.norm3(x + feed_forward(x))

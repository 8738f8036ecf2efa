"""One sequence's forward through a Llama-architecture decoder, in as few operations as it takes.

Why: at batch 1 a small model's cached decode step is little arithmetic behind many framework
operations. transformers' Llama runs about 40 per layer (separate q/k/v projections,
rotate-half rotary embeddings, a composite RMSNorm, SDPA's general path for one query, a
cache that concatenates); on a CPU where each costs several microseconds they, not the
matrix products, set the speed, and the KV cache gains little over recomputing the whole
sequence. `CompactLlama` computes the same function in about 16 per layer:

- q, k and v come from one matrix product, gate and up from another; the output and down
  projections add into the residual stream in the product itself (`addmm`).
- Rotary embeddings are one complex multiplication: the rows of q's and k's projections
  are permuted within each head so that each rotated pair sits side by side. Attention
  scores are dot products of q with k, which one permutation applied to both leaves as
  they were. The 1/sqrt(head_dim) of attention is folded into q's rows.
- Keys are kept transposed in a buffer allocated for the whole sequence (grown by
  doubling), so a step, or a short chunk after a cache (speculative verification), attends
  with two batched products and a softmax; a prompt goes through SDPA's causal kernel.

The keys it stores are in the permuted layout, so a `KVBuffer` is only ever read by the
`CompactLlama` that wrote it. Results match transformers' to float rounding (about 1e-6).
Only plain `LlamaForCausalLM` float32 models qualify (`CompactLlama.of` returns None
otherwise): a LoRA- or adapter-wrapped module, a forward hook, biases or scaled rotary
embeddings would be silently ignored here, so they keep transformers' own forward.

The one written exception: adaptlab uses transformers' architectures and owns no copy of
Llama (DESIGN.md's dependency table), except this forward. It stays because it is what makes
batch-1 cached decoding several times faster than transformers' forward on these CPUs
(`benchmarks/engine.py` measures both; docs/benchmarks.md has the figures), and only while it
keeps both guards: `CompactLlama.of` admits nothing it cannot compute exactly, and
`tests/engine/test_llama_decoder.py` checks its logits and cached steps against transformers'.
"""

from __future__ import annotations

import math
import weakref

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaForCausalLM
from transformers.activations import SiLUActivation
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaDecoderLayer, LlamaMLP, LlamaRMSNorm

LayerKV = tuple[torch.Tensor, torch.Tensor]  # keys, values: [1, kv_heads, tokens, head_dim]

_EXPECTED = {"self_attn": LlamaAttention, "mlp": LlamaMLP, "input_layernorm": LlamaRMSNorm,
             "post_attention_layernorm": LlamaRMSNorm, "q_proj": nn.Linear, "k_proj": nn.Linear,
             "v_proj": nn.Linear, "o_proj": nn.Linear, "gate_proj": nn.Linear, "up_proj": nn.Linear,
             "down_proj": nn.Linear, "act_fn": SiLUActivation}


def _plain_llama(model: nn.Module) -> bool:
    """A LlamaForCausalLM exactly as transformers builds it: what CompactLlama's arithmetic covers."""
    if type(model) is not LlamaForCausalLM or model.training:
        return False
    config = model.config
    rope = getattr(config, "rope_parameters", None) or {}
    if (config.hidden_act != "silu" or config.attention_bias or config.mlp_bias
            or rope.get("rope_type", "default") != "default" or getattr(config, "pretraining_tp", 1) != 1
            or model.lm_head.bias is not None or any(p.dtype != torch.float32 for p in model.parameters())):
        return False
    for module in model.modules():
        if module._forward_hooks or module._forward_pre_hooks:
            return False
    for layer in model.model.layers:
        if type(layer) is not LlamaDecoderLayer:
            return False
        for name, module in layer.named_modules():
            leaf = name.rsplit(".", 1)[-1]
            if name and type(module) is not _EXPECTED.get(leaf, type(module)):
                return False
    return type(model.model.norm) is LlamaRMSNorm


def _weights_key(model: nn.Module) -> tuple[tuple[int, int], ...]:
    """Changes whenever a weight is replaced or updated in place (an optimizer step bumps `_version`)."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


_built: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, CompactLlama]] = weakref.WeakKeyDictionary()


class KVBuffer:
    """A sequence's keys (transposed) and values for every layer, in preallocated storage; the
    cache interface the engine uses (`get_seq_length`, `crop`) with `DynamicCache`'s meaning."""

    def __init__(self, decoder: CompactLlama, capacity: int = 64):
        self.decoder = decoder
        self.length = 0
        self.keys = decoder.empty(capacity, transposed=True)  # [layers, kv_heads, head_dim, capacity]
        self.values = decoder.empty(capacity, transposed=False)  # [layers, kv_heads, capacity, head_dim]

    @property
    def capacity(self) -> int:
        return self.values.size(2)

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, length: int) -> None:
        """Keep the first `length` tokens; a negative length drops that many from the end."""
        self.length = max(0, self.length + length if length < 0 else min(length, self.length))

    def reserve(self, length: int) -> None:
        """Room for `length` tokens, doubling the storage when it runs out."""
        if length <= self.capacity:
            return
        capacity = max(length, 2 * self.capacity)
        keys, values = self.decoder.empty(capacity, True), self.decoder.empty(capacity, False)
        keys[..., : self.length] = self.keys[..., : self.length]
        values[:, :, : self.length] = self.values[:, :, : self.length]
        self.keys, self.values = keys, values

    def layer(self, index: int, end: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer `index`'s keys [kv_heads, head_dim, end] and values [kv_heads, end, head_dim] (views)."""
        return self.keys[index, :, :, :end], self.values[index, :, :end]

    def layer_kv(self) -> list[LayerKV]:
        """Each layer's keys and values [1, kv_heads, tokens, head_dim] (views; clone what you keep)."""
        n = self.length
        return [(self.keys[i, :, :, :n].transpose(1, 2)[None], self.values[i, :, :n][None])
                for i in range(self.keys.size(0))]

    def extend(self, layers: list[LayerKV]) -> None:
        """Append keys and values taken from another of this decoder's buffers (`layer_kv`)."""
        n = layers[0][0].size(-2)
        self.reserve(self.length + n)
        span = slice(self.length, self.length + n)
        for i, (k, v) in enumerate(layers):
            self.keys[i, :, :, span] = k[0].transpose(1, 2)
            self.values[i, :, span] = v[0]
        self.length += n


class CompactLlama:
    """A Llama model's weights rearranged for `forward` (they are copies: rebuilt by `of` when the
    model's weights change)."""

    def __init__(self, model: LlamaForCausalLM):
        config = model.config
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads or self.heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.hidden = config.hidden_size
        self.device = model.lm_head.weight.device
        self.eps = torch.tensor([[config.rms_norm_eps]], device=self.device)
        d = self.head_dim
        pairs = torch.stack([torch.arange(d // 2), torch.arange(d // 2) + d // 2], -1).reshape(-1)

        def rotary_rows(weight: torch.Tensor, heads: int, scale: float = 1.0) -> torch.Tensor:
            return weight.view(heads, d, -1)[:, pairs].reshape(heads * d, -1) * scale

        with torch.no_grad():
            self.embed = model.model.embed_tokens.weight.detach()
            self.layers = []
            for layer in model.model.layers:
                attn, mlp = layer.self_attn, layer.mlp
                # RMSNorm's weight scales the input features of the product that follows it.
                qkv = torch.cat([rotary_rows(attn.q_proj.weight, self.heads, 1 / math.sqrt(d)),
                                 rotary_rows(attn.k_proj.weight, self.kv_heads), attn.v_proj.weight])
                gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]) * layer.post_attention_layernorm.weight
                self.layers.append(tuple(w.t().contiguous() for w in (
                    qkv * layer.input_layernorm.weight, attn.o_proj.weight, gate_up, mlp.down_proj.weight)))
            self.head = (model.lm_head.weight * model.model.norm.weight).t().contiguous()
        self.intermediate = model.model.layers[0].mlp.gate_proj.out_features
        theta = config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        positions = torch.arange(config.max_position_embeddings, dtype=torch.float32)
        angles = torch.outer(positions, inv_freq)
        self.rotations = torch.polar(torch.ones_like(angles), angles).to(self.device)  # [positions, head_dim / 2]

    @classmethod
    def of(cls, model: nn.Module) -> CompactLlama | None:
        """The compact form of `model`'s current weights, or None for a model it does not cover."""
        if not _plain_llama(model):
            return None
        key = _weights_key(model)
        built = _built.get(model)
        if built is None or built[0] != key:
            built = (key, cls(model))
            _built[model] = built
        return built[1]

    def empty(self, capacity: int, transposed: bool) -> torch.Tensor:
        shape = (self.head_dim, capacity) if transposed else (capacity, self.head_dim)
        return torch.empty(len(self.layers), self.kv_heads, *shape, device=self.device)

    def new_cache(self) -> KVBuffer:
        return KVBuffer(self)

    def _norm_scale(self, x: torch.Tensor) -> torch.Tensor:
        """1 / RMS of each row of x [T, hidden] (RMSNorm without its weight, folded into the next product)."""
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return torch.rsqrt(torch.addcmul(self.eps, norm, norm, value=1 / self.hidden))

    def forward(self, tokens: list[int], cache: KVBuffer, keep: int = 0) -> torch.Tensor:
        """Logits [len(tokens), vocab] of `tokens` after what `cache` holds, or of the last `keep`
        positions only; the cache grows by the tokens."""
        T, start = len(tokens), cache.length
        end = start + T
        if end > self.rotations.size(0):
            raise ValueError(f"{end} tokens exceed the model's context of {self.rotations.size(0)}")
        cache.reserve(end)
        h, g, d = self.kv_heads, self.heads // self.kv_heads, self.head_dim
        q_width, kv_width = self.heads * d, self.kv_heads * d
        x = (self.embed.narrow(0, tokens[0], 1) if T == 1
             else F.embedding(torch.tensor(tokens, device=self.device), self.embed))
        rotation = self.rotations[start:end, None]  # [T, 1, head_dim / 2]
        # Causal masking of a chunk after cached tokens: query t sees keys up to start + t.
        # Rows follow the queries' [group, token] order (below), so the bias repeats per group.
        bias = (torch.full((T, end), -math.inf, device=self.device).triu_(start + 1).repeat(g, 1)
                if T > 1 and start else None)
        for i, (qkv_w, o_w, gate_up_w, down_w) in enumerate(self.layers):  # each [in, out]
            qkv = torch.mm(x, qkv_w).mul_(self._norm_scale(x))  # [T, (heads + 2 kv_heads) d]
            qk = torch.view_as_complex(qkv[:, : q_width + kv_width].view(T, -1, d // 2, 2))
            qk.mul_(rotation)
            keys, values = cache.layer(i, end)
            keys[..., start:end] = qkv[:, q_width : q_width + kv_width].view(T, h, d).permute(1, 2, 0)
            values[:, start:end] = qkv[:, q_width + kv_width :].view(T, h, d).transpose(0, 1)
            if T > 1 and not start:  # a prompt: SDPA's causal kernel, which never holds all the scores
                q = qkv[:, :q_width].view(T, self.heads, d).transpose(0, 1)[None]
                att = F.scaled_dot_product_attention(q, keys.transpose(1, 2)[None], values[None], is_causal=True,
                                                     scale=1.0, enable_gqa=g > 1)
                att = att[0].transpose(0, 1).reshape(T, q_width)
            else:  # a step or a short chunk: each kv head's queries [group * T, d] against its keys, two products
                q = qkv[:, :q_width].view(T, h, g, d).permute(1, 2, 0, 3).reshape(h, g * T, d)
                scores = torch.bmm(q, keys) if bias is None else torch.baddbmm(bias, q, keys)
                att = torch.bmm(torch.softmax(scores, dim=-1), values)
                att = att.view(h, g, T, d).permute(2, 0, 1, 3).reshape(T, q_width)
            x = torch.addmm(x, att, o_w)
            gate_up = torch.mm(x, gate_up_w).mul_(self._norm_scale(x))
            x = torch.addmm(x, F.silu(gate_up[:, : self.intermediate]).mul_(gate_up[:, self.intermediate :]), down_w)
        cache.length = end
        if keep:
            x = x[-keep:]
        return torch.mm(x, self.head).mul_(self._norm_scale(x))

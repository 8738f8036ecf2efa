"""The compact Llama forward: transformers' logits for a prompt, one-token steps, chunks after a
cache, a cropped or rebuilt cache, with full and grouped-query attention; built only for models
whose arithmetic it covers, and rebuilt when their weights change."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from adaptlab.engine.decode import generate_one
from adaptlab.engine.llama_decoder import CompactLlama
from adaptlab.engine.requests import GenerationSettings, prompt_tokens
from adaptlab.tokenization.train import load_tokenizer

TOL = 1e-4


def llama(kv_heads: int = 4, **overrides) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=160,
                         initializer_range=0.2, **overrides)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norm weights other than 1, so folding them into the products is exercised
        for name, param in model.named_parameters():
            if "norm" in name:
                param.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_logits_match_transformers_for_prompts_steps_chunks_crops_and_rebuilt_caches(kv_heads):
    model = llama(kv_heads)
    ids = torch.randint(0, 300, (150,)).tolist()
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0]
    compact = CompactLlama.of(model)
    cache = compact.new_cache()
    assert torch.allclose(compact.forward(ids[:70], cache), ref[:70], atol=TOL)  # past the buffer's first 64
    assert torch.allclose(compact.forward(ids[70:71], cache), ref[70:71], atol=TOL)
    assert torch.allclose(compact.forward(ids[71:120], cache, keep=4), ref[116:120], atol=TOL)
    cache.crop(-30)  # drop 90..119, as speculative decoding drops rejected proposals
    assert cache.get_seq_length() == 90
    assert torch.allclose(compact.forward(ids[90:150], cache), ref[90:150], atol=TOL)

    rebuilt = compact.new_cache()  # from stored keys and values, as a prefix-cache hit
    rebuilt.extend([(k[..., :40, :].clone(), v[..., :40, :].clone()) for k, v in cache.layer_kv()])
    assert torch.allclose(compact.forward(ids[40:45], rebuilt), ref[40:45], atol=TOL)


def test_tied_embeddings_and_a_longer_context_than_the_cache_holds():
    model = llama(tie_word_embeddings=True)
    ids = torch.randint(0, 300, (160,)).tolist()
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0]
    compact = CompactLlama.of(model)
    cache = compact.new_cache()
    compact.forward(ids[:100], cache)
    steps = torch.stack([compact.forward([t], cache)[0] for t in ids[100:]])
    assert torch.allclose(steps, ref[100:], atol=TOL)
    with pytest.raises(ValueError, match="context of 160"):
        compact.forward(ids[:1], cache)


def test_greedy_generation_is_transformers_own_with_the_cache_and_without(tokenizer_dir):
    tokenizer = load_tokenizer(tokenizer_dir)
    torch.manual_seed(1)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128,
                                         initializer_range=0.2)).eval()
    prompt = "The standard dose of the compound is"
    ids = prompt_tokens(model, tokenizer, prompt, 40)
    with torch.no_grad():
        hf = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            max_new_tokens=40, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id)[0, len(ids):].tolist()
    if tokenizer.eos_token_id in hf:
        hf = hf[: hf.index(tokenizer.eos_token_id)]
    for use_cache in (True, False):
        out = generate_one(model, tokenizer, prompt, GenerationSettings(max_new_tokens=40, temperature=0,
                                                                        use_cache=use_cache))
        assert out.tokens == hf


class LoRALinear(nn.Linear):
    """Stands in for a peft-injected layer: a subclass whose forward does more than its weight."""


@pytest.mark.parametrize("change", ["hook", "subclassed layer", "bias", "scaled rotary", "training", "other family"])
def test_models_whose_arithmetic_it_does_not_cover_keep_transformers_forward(change):
    model = llama()
    if change == "hook":
        model.model.layers[1].mlp.register_forward_hook(lambda module, args, out: out * 2)
    elif change == "subclassed layer":
        old = model.model.layers[0].self_attn.q_proj
        model.model.layers[0].self_attn.q_proj = LoRALinear(old.in_features, old.out_features, bias=False)
    elif change == "bias":
        model = llama(attention_bias=True)
    elif change == "scaled rotary":
        model = llama(rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0})
    elif change == "training":
        model.train()
    else:
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=300)).eval()
    assert CompactLlama.of(model) is None


def test_rebuilt_when_the_weights_change_in_place_and_reused_otherwise():
    model = llama()
    first = CompactLlama.of(model)
    assert CompactLlama.of(model) is first
    ids = torch.randint(0, 300, (10,)).tolist()
    before = first.forward(ids, first.new_cache())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model(torch.tensor([ids]), labels=torch.tensor([ids])).loss.backward()
    optimizer.step()
    model.eval()
    second = CompactLlama.of(model)
    assert second is not first
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0]
    after = second.forward(ids, second.new_cache())
    assert torch.allclose(after, ref, atol=TOL) and not torch.allclose(after, before, atol=TOL)

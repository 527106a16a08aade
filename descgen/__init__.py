"""descgen: Amazon-style product descriptions from titles. Stages (prepare, baseline, train, compare, demo), the
shared modules under them (config, predictor, retrieval, ...), and the runner behind ./run_all.sh.

Two messages other libraries print on every run, filtered here (where every process imports us first), each by its
exact source, because their cause is not in our code:
- bitsandbytes is imported by transformers' Trainer and by PEFT whenever it is installed, 4-bit or not. On CPUs
  with AVX512-BF16 it then tries to fetch an optional 4-bit GEMM kernel from the Hugging Face hub (the `kernels`
  package) and logs a warning when it cannot. Nothing here runs that kernel from the hub (no network; bf16 LoRA is
  the default), so that one logger reports errors only.
- PEFT's PeftModel reads `model.is_gradient_checkpointing`, which transformers 5 deprecated (a FutureWarning) for
  `is_activation_checkpointing`: PEFT's line, not ours (our TrainingArguments use the new name).
"""

import logging
import warnings

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

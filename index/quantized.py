"""The embedding model with int8 weights, run by onnxruntime (the `onnx-int8` backend).

The model folder's own weights are exported to ONNX and quantised (dynamic int8, one scale
per output channel) once per machine, offline, into a cache folder. Afterwards encoding
needs only onnxruntime and tokenizers: they import in a tenth of a second where torch
takes fifteen, and passages encode about 1.4 times as fast on two cores (BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from index.errors import ModelError
from index.settings import cache_folder

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

# Part of the cache key: bump it when the export or the quantisation changes.
EXPORT_VERSION = 1
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def model_file(model_path: Path) -> Path:
    """The quantised ONNX file for a model folder, exported on first use."""
    key = hashlib.sha256(f"{EXPORT_VERSION}".encode())
    for name in ("config.json", "tokenizer.json"):
        key.update((model_path / name).read_bytes())
    for weights in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        key.update(f"{weights.name}:{weights.stat().st_size}".encode())
    target = cache_folder() / "onnx" / f"{key.hexdigest()[:16]}.int8.onnx"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        _export(model_path, target)
    return target


def _export(model_path: Path, target: Path) -> None:
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as error:
        raise ModelError(f"exporting the model for onnx-int8 needs {error.name}: pip install newsqa") from None

    class TokenStates(torch.nn.Module):
        # transformers 5's BertModel takes other positional arguments: pass them by name.
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    try:
        model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    except Exception as error:
        raise ModelError(f"cannot load the embedding model from {model_path}: {error}") from error
    example = torch.ones(2, 8, dtype=torch.long)
    axes = {"batch": 0, "tokens": 1}
    with tempfile.TemporaryDirectory(dir=target.parent) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on operators it rewrites
        plain = Path(work) / "model.onnx"
        quantised = Path(work) / "model.int8.onnx"
        torch.onnx.export(
            TokenStates(model), (example, example, torch.zeros_like(example)), str(plain),
            input_names=list(INPUTS), output_names=["token_states"],
            dynamic_axes={name: {v: k for k, v in axes.items()} for name in (*INPUTS, "token_states")},
            opset_version=17, dynamo=False,
        )
        # Per-channel scales: cosine 0.994 to the float model, where one scale per tensor
        # gives 0.955 and costs about a point of retrieval recall.
        quantize_dynamic(str(plain), str(quantised), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(quantised, target)  # atomic: a concurrent process sees all of it or none


@lru_cache(maxsize=4)
def _session(model_path: Path) -> InferenceSession:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about graph optimisations on every start
    return onnxruntime.InferenceSession(
        str(model_file(model_path)), options, providers=["CPUExecutionProvider"]
    )


def runner(model_path: Path) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The int8 model as a function of a padded batch (ids, mask) to its token states."""
    session = _session(model_path)

    def run(input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (out,) = session.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(input_ids)})
        return out

    return run

"""The reader's network: the packaged MiniLM encoder with two small heads.

Kept apart from `qa.reader` because it imports torch and transformers (seconds), which
only the first question (or the training script) should pay for.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertModel

WORD_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"  # frozen: the packaged model's


class ReaderModel(nn.Module):
    """[CLS] question [SEP] title [SEP] passage [SEP] -> (relevance logit, start logits,
    end logits): whether the passage answers the question, and where its answer's words
    begin and end."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert
        hidden = bert.config.hidden_size
        self.relevance = nn.Linear(hidden, 1)
        self.span = nn.Linear(hidden, 2)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        states = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        relevance = self.relevance(states[:, 0]).squeeze(-1)
        start, end = self.span(states).unbind(-1)
        return relevance.float(), start.float(), end.float()


def initial_model(base: Path, attention_dropout: float | None = None) -> ReaderModel:
    """The untrained reader: the packaged encoder's weights, fresh heads; for training,
    `attention_dropout` in place of the packaged config's (0.1)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()  # "heads not initialised" is expected here
    options: dict[str, object] = {}
    if attention_dropout is not None:
        # torch's fused attention on CPU has no dropout: with it, SDPA falls back to an
        # unfused path slower than transformers' own ("eager"). See BENCHMARKS.md.
        options["attention_probs_dropout_prob"] = attention_dropout
        options["attn_implementation"] = "eager" if attention_dropout > 0 else "sdpa"
    bert = BertModel.from_pretrained(str(base), add_pooling_layer=False, local_files_only=True, **options)
    return ReaderModel(bert)


def trained_state(model: ReaderModel) -> dict[str, torch.Tensor]:
    """What ships: every weight but the frozen word embeddings, in bf16 (half the bytes;
    the reader runs under bf16 autocast anyway)."""
    return {
        name: tensor.detach().to(torch.bfloat16).contiguous()
        for name, tensor in model.state_dict().items() if name != WORD_EMBEDDINGS
    }


def load_model(base: Path, weights: Path) -> ReaderModel:
    from safetensors.torch import load_file

    model = initial_model(base)
    state = {name: tensor.float() for name, tensor in load_file(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) - {WORD_EMBEDDINGS} or unexpected:
        raise ValueError(f"{weights} does not fit the reader (missing {missing}, unexpected {unexpected})")
    model.eval()
    return model

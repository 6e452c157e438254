"""Request bodies (pydantic): unknown fields are refused, so a misspelt option is an error, not ignored.

Ranges that depend on the server's limits (max_new_tokens, beam, texts per request) are checked in
``served.py`` against :class:`~seqlab.serve.limits.Limits`, so the message can name the limit.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

# strict: "yes" is not a boolean and "5" not a number (JSON integers still pass as numbers)
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class PredictRequest(BaseModel):
    """``POST /v1/models/{name}/predict``: the fields that apply depend on the run's task."""

    model_config = _STRICT

    texts: Optional[list[str]] = Field(None, description="classify / seq2seq / mlm: the inputs (a batch)")
    text: Optional[str] = Field(None, description="one input (instead of texts)")
    beam: Optional[int] = Field(None, ge=1, description="seq2seq: beam width (default: the run's)")
    n_best: int = Field(1, ge=1, description="seq2seq: hypotheses returned per input (≤ beam)")
    attention: bool = Field(False, description="seq2seq: also return the first input's attention matrix")
    top_k: int = Field(5, ge=1, le=100, description="mlm: candidates per [MASK]")
    csv: Optional[str] = Field(None, description="forecast: the series as CSV text with a header row")
    columns: Optional[dict[str, list[Union[float, str, None]]]] = Field(
        None, description="forecast: the series as JSON columns {name: [values...]}, one a time column")
    data: Optional[str] = Field(None, description="forecast: builtin:NAME?k=v or a known dataset name (no paths)")
    horizon: Optional[int] = Field(None, ge=1, description="forecast: steps ahead (default: the run's)")
    history: int = Field(200, ge=0, le=10000, description="forecast: rows of history returned for plotting")


class GenerateRequest(BaseModel):
    """``POST /v1/models/{name}/generate``: the options of ``seqlab generate``, plus ``stream``."""

    model_config = _STRICT

    prompt: Optional[str] = Field(None, description="the text to continue")
    prompts: Optional[list[str]] = Field(None, description="several prompts (a batch); streamed pieces carry their row")
    max_new_tokens: Optional[int] = Field(None, ge=0, description="tokens per sample (default 200 or the server's cap if lower)")
    greedy: bool = False
    temperature: float = Field(1.0, gt=0, le=100, description="> 0; below 1 sharper, above 1 more random")
    top_k: int = Field(0, ge=0, description="sample among the k most likely tokens (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling, in (0, 1]")
    repetition_penalty: float = Field(1.0, gt=0, le=100, description="> 1 discourages repeats")
    stop: Optional[Union[str, list[str]]] = Field(None, description="stop when this text appears (cut off)")
    num_samples: int = Field(1, ge=1, description="independent samples per prompt")
    seed: Optional[int] = Field(None, ge=0, le=2**63 - 1, description="the same seed gives the same text")
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    stream: bool = Field(False, description="Server-Sent Events: one event per text piece, then a done event")

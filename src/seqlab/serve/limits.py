"""What one request may ask of the server, and how requests are batched."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_batch: int = 32  # most texts run as one micro-batch (1 = no batching)
    max_wait_ms: float = 5.0  # longest a request waits for others to join its batch
    max_texts: int = 64  # most texts (or prompts) in one request
    max_chars: int = 5000  # longest text or prompt in characters; longer -> 413 naming the limit
    max_new_tokens: int = 512  # cap on max_new_tokens for /generate
    max_num_samples: int = 8  # cap on num_samples for /generate
    max_beam: int = 16  # cap on the beam width for translation
    max_horizon: int = 2000  # cap on a forecast's horizon
    max_series_rows: int = 200_000  # most rows of a series sent in a forecast request
    max_body_bytes: int = 8 * 1024 * 1024  # largest request body; larger -> 413
    gen_streams: int = 2  # generations of one lm run at once, each on its own copy of the model (more wait)
    max_pending: int = 64  # generations of one lm run running or waiting; more -> 429 (try again later)

    def __post_init__(self):
        for name in ("max_batch", "max_texts", "max_chars", "max_new_tokens", "max_num_samples", "max_beam",
                     "max_horizon", "max_series_rows", "max_body_bytes", "gen_streams", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0; got {self.max_wait_ms}")

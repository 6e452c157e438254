"""seqlab runs as LangChain components (``pip install 'seqlab[langchain]'``).

    from seqlab.integrations.langchain import SeqlabLLM, SeqlabClassifier, SeqlabTranslator

    llm = SeqlabLLM(run="runs/shakespeare", max_new_tokens=100, top_k=20)      # a local lm run
    llm = SeqlabLLM(url="http://127.0.0.1:8000", model="shakespeare")         # or a running `seqlab serve`
    for piece in llm.stream("ROMEO:"):
        print(piece, end="")

    clf = SeqlabClassifier(run="runs/nsmc")           # Runnable: str -> {"label", "prob", "probs"}
    ko_en = SeqlabTranslator(run="runs/ko-en")         # Runnable: str -> the translation (str)
    chain = PromptTemplate.from_template("{text}") | ko_en

Each takes either ``run`` (a run folder, loaded once, in this process) or ``url`` + ``model`` (a served
model; streaming reads the server's Server-Sent Events). ``batch`` sends a list in one call, so the
model (or the server's micro-batcher) runs it as one batch.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Iterator, Optional

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.llms import LLM
from langchain_core.outputs import GenerationChunk
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from ..errors import UserError


def _load(run: str):
    from .. import load

    return load(run)


def _post(url: str, path: str, body: dict, timeout: float) -> dict:
    import httpx

    r = httpx.post(url.rstrip("/") + path, json=body, timeout=timeout)
    data = r.json()
    if r.status_code >= 400:
        err = data.get("error", {}) if isinstance(data, dict) else {}
        raise UserError(f"{url}{path}: {err.get('type', r.status_code)}: {err.get('message', r.text[:200])}")
    return data


def _check_source(run, url, model, what: str) -> None:
    if (run is None) == (url is None):
        raise ValueError(f"{what}: give either run='RUN_FOLDER' or url='http://HOST:PORT' with model='NAME'; found "
                         f"{'both' if run else 'neither'}")
    if url is not None and not model:
        raise ValueError(f"{what}: with url=..., name the served model: model='NAME' (see GET {url}/v1/models)")


class SeqlabLLM(LLM):
    """A seqlab language model (task lm) as a LangChain LLM: ``invoke`` returns the continuation, ``stream``
    yields it piece by piece as tokens are produced. ``stop`` strings are honoured across token boundaries."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run: Optional[str] = Field(None, description="an lm run folder (loaded once, in this process)")
    url: Optional[str] = Field(None, description="a running `seqlab serve` (http://HOST:PORT)")
    model: Optional[str] = Field(None, description="the served model's name (with url)")
    max_new_tokens: int = 200
    greedy: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: Optional[int] = None
    precision: str = "auto"
    timeout: float = 300.0  # seconds, for a server
    _loaded: Any = PrivateAttr(default=None)
    # LangChain runs batch() and parallel branches on threads; a loaded LM's decoder keeps its key/value
    # cache bound to the model object, so local generations take turns
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _one_source(self):
        _check_source(self.run, self.url, self.model, "SeqlabLLM")
        if self.run is not None:
            self._loaded = _load(self.run)
            if self._loaded.task != "lm":
                raise UserError(f"SeqlabLLM: {self.run} is a {self._loaded.task} run; expected an lm run")
        return self

    @property
    def _llm_type(self) -> str:
        return "seqlab"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"run": self.run, "url": self.url, "model": self.model, **self._options()}

    def _options(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "greedy": self.greedy, "temperature": self.temperature,
                "top_k": self.top_k, "top_p": self.top_p, "repetition_penalty": self.repetition_penalty,
                "seed": self.seed, "precision": self.precision}

    def _call(self, prompt: str, stop: Optional[list[str]] = None,
              run_manager: Optional[CallbackManagerForLLMRun] = None, **kwargs: Any) -> str:
        opts = {**self._options(), **kwargs}
        if self._loaded is not None:
            with self._lock:
                return self._loaded.generate(prompt, stop=stop, **opts)[0]["text"]
        body = {"prompt": prompt, **opts, **({"stop": stop} if stop else {})}
        return _post(self.url, f"/v1/models/{self.model}/generate", body, self.timeout)["generations"][0]["text"]

    def _stream(self, prompt: str, stop: Optional[list[str]] = None,
                run_manager: Optional[CallbackManagerForLLMRun] = None, **kwargs: Any) -> Iterator[GenerationChunk]:
        opts = {**self._options(), **kwargs}
        pieces = self._local_pieces(prompt, stop, opts) if self._loaded is not None else self._served_pieces(prompt, stop, opts)
        for text in pieces:
            chunk = GenerationChunk(text=text)
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk

    def _local_pieces(self, prompt, stop, opts) -> Iterator[str]:
        from ..models.sampling import GenerationConfig

        precision = opts.pop("precision")
        try:
            cfg = GenerationConfig(**opts)
        except (TypeError, ValueError) as e:
            raise UserError(f"SeqlabLLM: {e}") from None
        with self._lock:
            for piece in self._loaded.generate_stream([prompt], cfg, stop or [], precision=precision):
                if "text" in piece and piece.get("row", 0) == 0:
                    yield piece["text"]

    def _served_pieces(self, prompt, stop, opts) -> Iterator[str]:
        import httpx

        body = {"prompt": prompt, **opts, "stream": True, **({"stop": stop} if stop else {})}
        path = f"{self.url.rstrip('/')}/v1/models/{self.model}/generate"
        with httpx.stream("POST", path, json=body, timeout=self.timeout) as r:
            if r.status_code >= 400:
                err = json.loads(r.read() or b"{}").get("error", {})
                raise UserError(f"{path}: {err.get('type', r.status_code)}: {err.get('message', '')}")
            event = "message"
            for line in r.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    if event == "error":
                        raise UserError(f"{path}: {data['error']['type']}: {data['error']['message']}")
                    if event == "message" and data.get("row", 0) == 0:
                        yield data["text"]
                elif not line:
                    event = "message"


class _SeqlabRunnable(Runnable):
    """A run (local or served) called with one text (``invoke``) or a list in one call (``batch``)."""

    task = ""

    def __init__(self, run: str | None = None, *, url: str | None = None, model: str | None = None, timeout: float = 300.0):
        _check_source(run, url, model, type(self).__name__)
        self.run, self.url, self.model, self.timeout = run, url, model, timeout
        self._loaded = _load(run) if run is not None else None
        self._lock = threading.Lock()  # one call at a time on the loaded module (LangChain may use threads)
        if self._loaded is not None and self._loaded.task != self.task:
            raise UserError(f"{type(self).__name__}: {run} is a {self._loaded.task} run; expected a {self.task} run")

    def _predict(self, texts: list[str]) -> list[dict]:
        raise NotImplementedError

    def _output(self, result: dict):
        return result

    def invoke(self, input: str, config: Optional[RunnableConfig] = None, **kwargs: Any):
        return self.batch([input], config)[0]

    def batch(self, inputs: list[str], config=None, *, return_exceptions: bool = False, **kwargs: Any) -> list:
        texts = [x.to_string() if hasattr(x, "to_string") else str(x) for x in inputs]  # a PromptValue or text
        return [self._output(r) for r in self._predict(texts)] if texts else []


class SeqlabClassifier(_SeqlabRunnable):
    """A classify run as a Runnable: text -> ``{"label", "prob", "probs"}``."""

    task = "classify"

    def _predict(self, texts):
        if self._loaded is not None:
            with self._lock:
                return self._loaded.predict(texts)
        return _post(self.url, f"/v1/models/{self.model}/predict", {"texts": texts}, self.timeout)["results"]


class SeqlabTranslator(_SeqlabRunnable):
    """A seq2seq run as a Runnable: text -> its translation (a string; ``full=True``: the whole record
    with score and n-best)."""

    task = "seq2seq"

    def __init__(self, run: str | None = None, *, url: str | None = None, model: str | None = None,
                 beam: int | None = None, n_best: int = 1, full: bool = False, timeout: float = 300.0):
        super().__init__(run, url=url, model=model, timeout=timeout)
        self.beam, self.n_best, self.full = beam, n_best, full

    def _predict(self, texts):
        if self._loaded is not None:
            with self._lock:
                return self._loaded.predict(texts, beam=self.beam, n_best=self.n_best)
        body = {"texts": texts, "n_best": self.n_best, **({"beam": self.beam} if self.beam else {})}
        return _post(self.url, f"/v1/models/{self.model}/predict", body, self.timeout)["results"]

    def _output(self, result: dict):
        return result if self.full else result["translation"]


__all__ = ["SeqlabLLM", "SeqlabClassifier", "SeqlabTranslator"]

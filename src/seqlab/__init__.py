"""seqlab: sequence models from the plain RNN to GPT, trained and explained on real data.

The public entry points::

    import seqlab
    run = seqlab.load("runs/sst2-lstm")      # a trained run directory
    run.predict(["a gripping, funny film"])  # [{"label": "1", "prob": 0.93}]
"""

__version__ = "0.1.0"


def load(run_dir, device: str = "auto"):
    """Load a run directory written by ``seqlab train`` onto ``device`` (auto | cpu | cuda); returns the task's
    loaded-run object (see :mod:`seqlab.tasks.loaded`)."""
    from .tasks import load as _load

    return _load(run_dir, device)


def from_hf(path, out=None):
    """Import a local Hugging Face checkpoint directory (GPT-2 or BERT) as a seqlab run."""
    from .interop.hf import from_hf as _from_hf

    return _from_hf(path, out=out)


__all__ = ["load", "from_hf", "__version__"]

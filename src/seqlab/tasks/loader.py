"""Building a run's model from its config.json and loading its weights, with errors that say what is wrong
with the folder instead of a traceback."""

from __future__ import annotations

from ..errors import UserError


def model_spec(task, run, cfg: dict):
    """The task's ModelSpec for the model named in a run's config.json."""
    name = cfg.get("model_name")
    if name not in task.models:
        raise UserError(f"{run.path}: config.json names model {name!r}, which task {task.name} does not have "
                        f"({', '.join(task.models)}); was the run written by a newer seqlab?")
    return task.models[name]


def build_and_load(run, spec, model_cfg, weights: str = "model.safetensors", **sizes):
    """``spec.build(model_cfg, **sizes)`` with the run's weights loaded (strictly)."""
    try:
        module = spec.build(model_cfg, **sizes)
    except (ValueError, TypeError) as e:
        raise UserError(f"{run.path}: config.json describes a model that cannot be built ({e}); the run folder is "
                        "damaged or was edited") from None
    run.load_weights_into(module, weights)  # strict; a slice at a time, so the peak stays near the model's size
    return module

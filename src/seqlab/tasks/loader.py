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
    state = run.load_weights(weights)
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = next((ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()), str(e))
        raise UserError(f"{run.path}: {weights} does not fit the model config.json describes ({first[:200]}); the "
                        "weights and config.json come from different runs, or one was edited") from None
    return module

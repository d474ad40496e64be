"""Errors raised by the engines. Each message tells the user or the admin what to do next."""


class InferenceError(Exception):
    """Base class for every error the engines raise on purpose."""


class InvalidRequest(InferenceError):
    """A request value is out of range or unknown (sampling, sizes, modes)."""


class PromptTooLong(InvalidRequest):
    """The newest message alone does not fit in the model's context window."""


class ModelLoadError(InferenceError):
    """A model folder or file is missing, corrupt, or of an unsupported kind."""


class UnsafeModelFormat(ModelLoadError):
    """The model ships pickle checkpoints or remote code and the admin has not allowed it."""


class EngineUnavailable(InferenceError):
    """A remote engine cannot be reached, or an optional library is not installed."""


class Cancelled(InferenceError):
    """Generation was stopped on request (raised only where a partial result makes no sense)."""

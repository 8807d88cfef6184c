"""quant_opt's exceptions. Each carries the message the command-line tools
print for the same failure (without their `tool: error:` prefix)."""


class Error(Exception):
    """Base class of every error quant_opt raises."""


class LoadError(Error):
    """An artifact could not be loaded (missing file, not an artifact)."""


class InputError(Error, ValueError):
    """Inputs do not match the artifact's signature (names, dtypes, shapes);
    the message lists the expected signature."""


class RunError(Error):
    """Running an artifact failed for another reason than its inputs (a
    GPU artifact without a usable CUDA device or driver, a CUDA error)."""


class CompileError(Error):
    """Importing, transforming or compiling a model failed; the message
    names the ONNX node, pass or option as quant-compile does."""


class IRError(Error):
    """Parsing IR or running a pass pipeline failed (quant_opt.ir)."""

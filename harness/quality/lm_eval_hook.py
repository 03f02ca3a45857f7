"""Makes `lm_eval --model meek-llamacpp ...` work: registers the model with lm-eval whenever lm-eval loads its registry.

lm-eval discovers no plugins, so meek_harness_lm_eval.pth (installed beside the package) imports this module at
interpreter start. It only adds an import hook; lm-eval itself is not imported until something else imports it, and the
model module is imported only when lm-eval is asked for `meek-llamacpp`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

REGISTRY_MODULE = "lm_eval.api.registry"
MODEL_NAME = "meek-llamacpp"
MODEL_TARGET = "harness.quality.llama_lm:MeekLlamaCpp"


def _register(registry) -> None:
    import lm_eval.models  # noqa: F401  lm-eval registers its own models only into an empty registry: do it first

    if MODEL_NAME not in registry.model_registry:
        registry.model_registry.register(MODEL_NAME, target=MODEL_TARGET)


class _RegistryWatcher(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != REGISTRY_MODULE:
            return None
        sys.meta_path.remove(self)  # let the other finders locate the real module; fire only once
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _register(module)

        setattr(spec.loader, "exec_module", exec_module)  # this one loader's method, wrapped (mypy: no method-assign)
        return spec


def install() -> None:
    if REGISTRY_MODULE in sys.modules:
        _register(sys.modules[REGISTRY_MODULE])
    elif not any(isinstance(finder, _RegistryWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegistryWatcher())


try:
    install()
except Exception:  # never break interpreter start-up for this convenience
    pass

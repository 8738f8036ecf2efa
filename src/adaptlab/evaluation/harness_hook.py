"""Registers the `adaptlab` model type the moment lm-eval's registry module loads.

Imported at interpreter start by `adaptlab_lm_eval.pth`; it only installs an import
hook (no heavy imports), and the model class itself loads lazily on first use.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from types import ModuleType

TARGET = "lm_eval.api.registry"
MODEL = ("adaptlab", "adaptlab.evaluation.harness:AdaptlabHarnessLM")


def register(registry_module: ModuleType) -> None:
    """Adds `adaptlab` after lm-eval's own model table: lm-eval fills an empty registry from
    `lm_eval.models` on first lookup, so registering into an empty one would hide `hf` and the rest.
    That module holds only name-to-path strings, so importing it here stays cheap."""
    import lm_eval.models  # noqa: F401  (registers lm-eval's models as lazy placeholders)

    name, target = MODEL
    if name not in registry_module.model_registry:
        registry_module.model_registry.register(name, target=target)


class _RegistryHook(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path, target=None):
        if fullname != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            register(module)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    if TARGET in sys.modules:
        register(sys.modules[TARGET])
    elif not any(isinstance(f, _RegistryHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegistryHook())

"""adaptlab as an lm-evaluation-harness model type: `lm_eval --model adaptlab --model_args run=RUN`.

lm-eval has no plugin entry points, so `adaptlab_lm_eval.pth` (installed beside the
package) registers this class lazily the moment lm-eval's registry is imported; see
`adaptlab.evaluation.harness_hook`.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.model import LM as HarnessLM

from adaptlab.lm import LM, HFCausalLM


def load_lm(run: str, device: str = "cpu", batch_size: int = 16) -> LM:
    """The LM a run folder or checkpoint folder describes."""
    return HFCausalLM.from_path(run, device=device, batch_size=batch_size)


def _available(device: str | None) -> str:
    """lm-eval asks for cuda by default; fall back to the CPU where there is none."""
    import torch

    if device and (not device.startswith("cuda") or torch.cuda.is_available()):
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class AdaptlabHarnessLM(HarnessLM):
    """Delegates lm-eval's requests to any adaptlab LM."""

    def __init__(self, run: str, batch_size: int | str = 16, device: str | None = None, **_: Any):
        super().__init__()
        size = 16 if str(batch_size).startswith("auto") else int(batch_size)
        self.lm = load_lm(run, device=_available(device), batch_size=size)

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        return self.lm.loglikelihood([req.args for req in requests])

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        return self.lm.loglikelihood_rolling([req.args[0] for req in requests])

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        return self.lm.generate_until([req.args for req in requests])

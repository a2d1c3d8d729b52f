"""ZeRO++ communication (qwZ, hpZ, qgZ) for sharded data-parallel training on FSDP2 over torch.distributed.

The extension point is the strategy (``zeropp.STRATEGIES``: which of the three techniques are on);
``apply_zeropp`` is the one entry point. See README.md. Names are imported on first use, so the
``feedlearn`` CLI starts without importing torch.
"""

from importlib import import_module
from typing import Any

_WHERE = {
    "ByteCounter": "accounting", "Topology": "topology", "STRATEGIES": "zeropp", "ZeroPP": "zeropp",
    "apply_zeropp": "zeropp", **{n: "quant" for n in ("Quantized", "dequantize", "pack_int4", "quantize",
                                                      "quantized_nbytes", "unpack_int4")},
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'feedlearn.dist' has no attribute {name!r}")
    return getattr(import_module(f"feedlearn.dist.{_WHERE[name]}"), name)

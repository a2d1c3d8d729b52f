"""ZeRO++ communication (qwZ, hpZ, qgZ) for FSDP2 over torch.distributed; this slice: block quantization."""

from feedlearn.dist.quant import Quantized, dequantize, pack_int4, quantize, quantized_nbytes, unpack_int4

__all__ = ["Quantized", "dequantize", "pack_int4", "quantize", "quantized_nbytes", "unpack_int4"]

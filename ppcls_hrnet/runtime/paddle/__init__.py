"""The Paddle engine: Paddle Inference (:mod:`.engine`), saved Paddle programs (:mod:`.program`) and
their conversion to ONNX (:mod:`.onnx`). The runtime's only modules that import Paddle."""

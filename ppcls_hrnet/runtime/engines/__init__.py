"""Raw tensor engines (:mod:`.base`) on ONNX Runtime and OpenVINO; Paddle's is :mod:`..paddle.engine`."""

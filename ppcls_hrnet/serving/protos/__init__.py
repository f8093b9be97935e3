"""The gRPC services' ``.proto`` sources and their compiled descriptors.

- ``pipeline_service.proto``: Paddle Serving 0.9's pipeline RPC
  (``baidu.paddle_serving.pipeline_serving.PipelineService``);
- ``grpc_predict_v2.proto``: the Open Inference Protocol
  (``inference.GRPCInferenceService``).

:mod:`.descriptors` is generated from them by :mod:`.generate` and committed
(``python -m ppcls_hrnet.serving.protos.generate``, grpcio-tools): a serialized
``FileDescriptorProto`` per file, no generated message code. The server builds
its message classes from it in a private descriptor pool
(:mod:`ppcls_hrnet.serving.messages`), so it neither depends on the protobuf
gencode/runtime version pairing nor collides with a client library that
registers the same ``inference.*`` names (``tritonclient.grpc``) in one process.
"""

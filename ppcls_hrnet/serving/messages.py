"""The gRPC services' message classes, built from :mod:`.protos.descriptors` in a private pool.

    from .messages import pipeline, v2
    request = v2.ModelInferRequest.FromString(data)
    pipeline.Response(err_no=0, key=["label", "prob"], value=[...])

A private :class:`~google.protobuf.descriptor_pool.DescriptorPool`, not the
default one: ``tritonclient.grpc`` registers its own ``inference.*`` messages
(from its ``grpc_service.proto``) in the default pool, and a process importing
both would otherwise fail with a duplicate symbol. The classes work with any
protobuf runtime from 3.20 (Paddle's floor) on: no generated code, no
gencode/runtime version check.
"""
from __future__ import annotations

from types import SimpleNamespace

from google.protobuf import descriptor_pb2, descriptor_pool

from .protos.descriptors import FILES

PIPELINE_SERVICE = "baidu.paddle_serving.pipeline_serving.PipelineService"
V2_SERVICE = "inference.GRPCInferenceService"


def _message_class(descriptor):
    try:
        from google.protobuf.message_factory import GetMessageClass  # protobuf >= 4.22
    except ImportError:  # protobuf 3.20 - 4.21
        from google.protobuf.message_factory import MessageFactory

        return MessageFactory(descriptor.file.pool).GetPrototype(descriptor)
    return GetMessageClass(descriptor)


def _load(pool, name: str) -> SimpleNamespace:
    file = pool.Add(descriptor_pb2.FileDescriptorProto.FromString(FILES[name]))
    if file is None:  # protobuf < 4: Add returns nothing
        file = pool.FindFileByName(name)
    classes = {message.name: _message_class(message) for message in file.message_types_by_name.values()}
    (service,) = file.services_by_name.values()
    return SimpleNamespace(DESCRIPTOR=file, SERVICE=service.full_name, **classes)


_POOL = descriptor_pool.DescriptorPool()
pipeline = _load(_POOL, "pipeline_service.proto")
v2 = _load(_POOL, "grpc_predict_v2.proto")
assert pipeline.SERVICE == PIPELINE_SERVICE and v2.SERVICE == V2_SERVICE

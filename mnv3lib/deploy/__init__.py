"""Shipping a trained model: today's CPU deployment routes, each checked against eager PyTorch.

Chapter 7 ("Deploying MobileNetV3") measures them side by side. Every route starts from the same
float model and returns a :class:`~.routes.Deployment`: a callable that takes a batch of the
example's shape and returns the output tensor, with the size of the file that would ship.

=================  ==========================================================================
route              what it does
=================  ==========================================================================
eager              the float model itself, called from Python (the baseline)
eager_int8         Chapter 3's eager-mode PTQ (``torch.ao.quantization``, deprecated)
compile            ``torch.export`` graph, ``torch.compile`` with inductor and weight freezing
pt2e_int8          PT2E int8 with torchao's ``X86InductorQuantizer``, then ``torch.compile``
onnx               ONNX file from the dynamo exporter, run by ONNX Runtime
onnx_int8          the same file quantized by ONNX Runtime (static, QDQ, per-channel weights)
executorch         ExecuTorch program (``.pte``) delegated to XNNPACK, run by its runtime
executorch_int8    the same with PT2E int8 from ExecuTorch's ``XNNPACKQuantizer``
=================  ==========================================================================

The modules, in the order a reader meets them:

* :mod:`.routes`: the routes, what each needs installed, the order they are built in, and
  :class:`~.routes.Deployment`;
* :mod:`.build`: :func:`~.build.deploy` one route, or :func:`~.build.deploy_routes` several of one
  model (one ONNX export for both ONNX Runtime routes; the ``torch.compile`` routes last);
* :mod:`.torch_routes`, :mod:`.onnx_routes`, :mod:`.executorch_routes`: the routes of PyTorch itself,
  of ONNX Runtime and of ExecuTorch;
* :mod:`.outputs`: :func:`~.outputs.check_outputs`, a deployment's outputs against the eager model's;
* :mod:`.requirements`: :func:`~.requirements.deploy_requirements`, the versions of ONNX, ONNX Runtime,
  torchao and ExecuTorch that go with the installed torch.

The graph routes are specialised to the example's shape (batch size included): deploy with a batch of
1 to time single images. ONNX, ONNX Runtime, torchao and ExecuTorch are imported only by the routes
that use them.
"""

from .build import deploy, deploy_routes
from .outputs import OutputCheck, check_outputs
from .requirements import DEPLOY_REQUIREMENTS, TorchDeprecations, deploy_requirements, torch_deprecations
from .routes import INT8_ROUTES, ROUTES, Deployment, build_order, route_available

__all__ = [
    "ROUTES", "INT8_ROUTES", "DEPLOY_REQUIREMENTS", "Deployment", "OutputCheck", "deploy", "deploy_routes", "build_order", "check_outputs",
    "route_available", "deploy_requirements", "TorchDeprecations", "torch_deprecations",
]  # fmt: skip

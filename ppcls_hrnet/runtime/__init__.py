"""The inference runtime: everything a deployed model needs, and no Paddle outside :mod:`.paddle`.

- :mod:`.contract` -- ``inference.yml``, the one contract every predictor reads;
  :mod:`.model_files` -- the model files' names and finding them;
- :mod:`.backends` -- the table of engines (Paddle Inference, ONNX Runtime,
  OpenVINO, Paddle Lite) and the factory; :mod:`.options` -- how to run one;
- :mod:`.engines` -- ONNX Runtime and OpenVINO; :mod:`.paddle` -- Paddle
  Inference, Paddle programs and their ONNX conversion (the only modules
  that import Paddle); :mod:`.lite` -- the Paddle Lite check runner;
- :mod:`.predictor` -- images in, classes out; :mod:`.postprocess` (top-k,
  labels), :mod:`.results` (printing and saving), :mod:`.parity` (two engines
  on the same images).

Preprocessing is :mod:`ppcls_hrnet.preprocess`, below this layer.
"""

"""The one preprocessing implementation: PaddleClas's transform ops (:mod:`.transforms`), image
headers (:mod:`.image_header`), and which images to read and their bytes (:mod:`.images`).

Paddle-free; training, export and every Python predictor use it, and the
C++ predictor mirrors it op for op.
"""

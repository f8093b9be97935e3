"""The bottom layer: what every other layer may use and that knows nothing of them.

Process set-up and command guards (:mod:`.process`), where files are kept
(:mod:`.home`), resumable downloads (:mod:`.download`), Paddle's import with
its side effects undone (:mod:`.paddle_import`), lazily imported package
names (:mod:`.lazy`).
"""

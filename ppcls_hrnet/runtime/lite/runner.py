"""Runs a Paddle Lite ``.nb`` in the helper venv (Python 3.7, paddlelite 2.12).

Started by :class:`ppcls_hrnet.runtime.lite.engine.LiteEngine` as
``python runner.py MODEL.nb``; it imports nothing from ppcls_hrnet (this file
must stay Python 3.7 code). Protocol on stdin/stdout, every frame
``<8-byte little-endian length><payload>``:

* runner -> parent, once: status frame ``b"O" + b"ready"`` or ``b"E" + message``;
* parent -> runner: an ``.npy`` float32 NCHW batch; a zero-length frame ends it;
* runner -> parent: ``b"O" + .npy`` output (a copy: Lite's output tensor is a
  view that the next run overwrites), or ``b"E" + message``.
"""
import io
import struct
import sys


def read_frame(stream):
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def write_frame(stream, payload):
    stream.write(struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def main():
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed goes to stderr, never into the protocol
    stdin = sys.stdin.buffer
    try:
        import numpy as np
        from paddlelite.lite import MobileConfig, create_paddle_predictor

        config = MobileConfig()
        config.set_model_from_file(sys.argv[1])
        predictor = create_paddle_predictor(config)
    except Exception as err:  # noqa: BLE001 -- reported to the parent as one line
        write_frame(out, b"E" + ("%s: %s" % (type(err).__name__, err)).encode("utf-8", "replace"))
        return 1
    write_frame(out, b"Oready")
    while True:
        frame = read_frame(stdin)
        if not frame:
            return 0
        try:
            batch = np.load(io.BytesIO(frame), allow_pickle=False)
            tensor = predictor.get_input(0)
            tensor.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            predictor.run()
            result = np.array(predictor.get_output(0).numpy(), dtype=np.float32, copy=True)
            buffer = io.BytesIO()
            np.save(buffer, result, allow_pickle=False)
            write_frame(out, b"O" + buffer.getvalue())
        except Exception as err:  # noqa: BLE001
            write_frame(out, b"E" + ("%s: %s" % (type(err).__name__, err)).encode("utf-8", "replace"))


if __name__ == "__main__":
    sys.exit(main())

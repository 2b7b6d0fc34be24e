"""NalaSR model files: state_dict <-> safetensors (float32) with __metadata__ {"config", "provenance"}.

The format is small enough to write by hand (8-byte little-endian header length, JSON header, raw
little-endian data), which keeps this usable where the `safetensors` package is absent.

Usage: python3 models/export.py CHECKPOINT.pt OUT.safetensors   (exports a training checkpoint's weights)
"""
import json
import struct
import sys

import torch

from nalasr_model import ModelConfig, NalaSR

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> tensor (any float dtype, stored as F32); metadata: str -> str."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """-> (name -> float32 tensor, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buf = bytearray(raw[base + start:base + end])
        t = torch.frombuffer(buf, dtype=_DTYPES[info["dtype"]]) if end > start else torch.empty(0)
        tensors[name] = t.reshape(info["shape"]).float()
    return tensors, metadata


def save_model(path, model, provenance):
    """Writes model weights (float32) with its config and provenance (a dict) in __metadata__."""
    state = {k: v for k, v in model.state_dict().items()}
    write_safetensors(path, state, {"config": model.cfg.to_json(), "provenance": json.dumps(provenance)})


def load_model(path):
    """-> (NalaSR with the file's weights, provenance dict)."""
    tensors, metadata = read_safetensors(path)
    model = NalaSR(ModelConfig.from_json(metadata["config"]))
    model.load_state_dict(tensors, strict=True)
    return model, json.loads(metadata.get("provenance", "{}"))


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    ckpt = torch.load(argv[1], map_location="cpu", weights_only=False)
    model = NalaSR(ModelConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    save_model(argv[2], model, ckpt.get("provenance", {}))
    print(f"wrote {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)

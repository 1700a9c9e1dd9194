"""CAM++ without torch: against a saved torch reference, on real speech, and the weights loader's safety.

tests/data/campplus_reference.npz was made once with torch 2.10.0 / torchaudio 2.10.0 and the 3D-Speaker
model code (speakerlab/models/campplus, commit 09e7806): raw embeddings of 124 segments of the shared
recordings and torchaudio.compliance.kaldi.fbank output for 7 of them. Saving it means these tests need
neither torch nor a GPU, only the checkpoint (``whisperd models pull campplus``, run by ``make setup``) and
ffmpeg.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.support.media import AUDIO_DIR
from tests.support.servers import speaker_weights
from whisperd.diarization import campplus as se
from whisperd.diarization.checkpoint import WeightsError, load_torch_state_dict
from whisperd.diarization.fbank import SAMPLE_RATE, kaldi_fbank

AUDIO = AUDIO_DIR
WEIGHTS = speaker_weights()
REFERENCE = Path(__file__).resolve().parents[2] / "data" / "campplus_reference.npz"
SR = SAMPLE_RATE

F32 = npt.NDArray[np.float32]

# How make_reference.py decoded each source (ffmpeg, 16 kHz mono float): the stereo file's channels are the two
# speakers of the diarization test; the right-hand speaker talks only from about 0.25 s to 2.5 s.
SOURCES: dict[str, tuple[str, list[str]]] = {
    "left": ("stereo_diarization.wav", ["-af", "pan=mono|c0=c0"]),
    "right": ("stereo_diarization.wav", ["-af", "pan=mono|c0=c1"]),
    "jfk": ("jfk.flac", ["-ac", "1"]),
    "multilingual": ("multilingual.mp3", ["-ac", "1"]),
}


def decode(name: str) -> F32:
    source, args = SOURCES[name]
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(AUDIO / source), *args, "-ar", str(SR), "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(out, dtype=np.float32).copy()


def cut(x: F32, start: float, end: float) -> F32:
    return x[round(start * SR) : round(end * SR)]


def windows(x: F32, start: float, end: float, win: float = 1.5, hop: float = 0.75) -> list[F32]:
    n, h = int(win * SR), int(hop * SR)
    return [x[s : s + n] for s in range(int(start * SR), int(end * SR) - n + 1, h)]


def cosines(a: F32, b: F32, *, same: bool = False) -> F32:
    """All pairwise cosines of two sets of unit embeddings (without the diagonal when a and b are one set)."""
    sims = a @ b.T
    return sims[~np.eye(len(a), dtype=bool)] if same else sims.ravel()


@pytest.fixture(scope="module")
def audio() -> dict[str, F32]:
    if shutil.which("ffmpeg") is None or not AUDIO.is_dir():
        pytest.skip("needs ffmpeg and the shared recordings")
    return {name: decode(name) for name in SOURCES}


@pytest.fixture(scope="module")
def reference() -> Iterator[dict[str, npt.NDArray[np.generic]]]:
    with np.load(REFERENCE) as data:
        yield {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def onnx_model() -> se.SpeakerEmbedder:
    pytest.importorskip("onnx")
    return se.SpeakerEmbedder(WEIGHTS, backend="onnx", threads=2)


@pytest.fixture(scope="module")
def model() -> se.SpeakerEmbedder:
    """What the server gets: onnx when it is installed, numpy otherwise."""
    return se.SpeakerEmbedder(WEIGHTS, threads=2)


@pytest.fixture(scope="module")
def numpy_model() -> se.SpeakerEmbedder:
    return se.SpeakerEmbedder(WEIGHTS, backend="numpy")


# -- weights ---------------------------------------------------------------------------------------------------


def test_loader_reads_the_checkpoint_without_torch() -> None:
    sd = load_torch_state_dict(WEIGHTS, sha256=None)
    assert len(sd) == 937
    assert sd["head.conv1.weight"].shape == (32, 1, 3, 3)
    assert sd["xvector.dense.linear.weight"].shape == (192, 1024, 1)
    assert sd["head.bn1.num_batches_tracked"].dtype == np.int64
    stats = ("running_mean", "running_var", "num_batches_tracked")
    params = sum(v.size for k, v in sd.items() if not k.endswith(stats))
    assert params == 6_848_544  # what torch reports for CAMPPlus(embedding_size=192)


def test_loader_refuses_a_file_with_the_wrong_sha256(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="sha256"):
        se.SpeakerEmbedder(WEIGHTS, sha256="0" * 64)
    tampered = tmp_path / "campplus_cn_en_common.pt"
    data = bytearray(WEIGHTS.read_bytes())
    data[-1000] ^= 0xFF  # one byte of tensor data
    tampered.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        se.SpeakerEmbedder(tampered)
    with pytest.raises(WeightsError, match="not found"):
        se.SpeakerEmbedder(tmp_path / "missing.pt")


def test_loader_refuses_to_unpickle_anything_but_tensors(tmp_path: Path) -> None:
    # The sha256 check normally stops a foreign file first; with it off, the unpickler itself must not build
    # arbitrary objects (pickle would otherwise call os.system while loading).
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": os.system}))
    with pytest.raises(WeightsError, match="refusing to load"):
        load_torch_state_dict(evil, sha256=None)
    not_zip = tmp_path / "plain.pt"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="unreadable"):
        load_torch_state_dict(not_zip, sha256=None)


# -- features --------------------------------------------------------------------------------------------------


def test_fbank_matches_torchaudio_kaldi(
    audio: dict[str, F32], reference: dict[str, npt.NDArray[np.generic]]
) -> None:
    names, starts, ends = reference["names"], reference["starts"], reference["ends"]
    checked = 0
    for key in reference:
        if not key.startswith("fbank_"):
            continue
        i = int(key.removeprefix("fbank_"))
        expected = reference[key].astype(np.float32)
        got = kaldi_fbank(cut(audio[str(names[i])], float(starts[i]), float(ends[i])))
        assert got.shape == expected.shape
        # float32 rounding in torchaudio shows up in near-silent bins; typical differences are ~1e-5
        assert np.abs(got - expected).max() < 1e-2
        assert np.abs(got - expected).mean() < 1e-4
        checked += 1
    assert checked == 7


def test_fbank_edge_cases() -> None:
    assert kaldi_fbank(np.zeros(399, np.float32)).shape == (0, 80)
    assert kaldi_fbank(np.zeros(400, np.float32)).shape == (1, 80)
    assert kaldi_fbank(np.zeros(16000, np.float32)).shape == (98, 80)
    silent = kaldi_fbank(np.zeros(1000, np.float32))
    assert np.all(silent == np.float32(np.log(np.finfo(np.float32).eps)))  # floored, not -inf


# -- the network -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["onnx", "numpy"])
def test_embeddings_match_the_torch_reference(
    backend: str,
    request: pytest.FixtureRequest,
    audio: dict[str, F32],
    reference: dict[str, npt.NDArray[np.generic]],
) -> None:
    model: se.SpeakerEmbedder = request.getfixturevalue(f"{backend}_model")
    names, starts, ends = reference["names"], reference["starts"], reference["ends"]
    segments = [cut(audio[str(n)], float(a), float(b)) for n, a, b in zip(names, starts, ends, strict=True)]
    usable = [i for i, s in enumerate(segments) if s.size >= se.MIN_SAMPLES]
    assert len(usable) == 123  # one 25 ms segment is below the minimum (torch gives NaN for it)
    got = model.embed_batch([segments[i] for i in usable])
    expected = reference["embeddings"][usable].astype(np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    cos = np.sum(got * expected, axis=1)
    assert cos.min() > 0.999, f"worst segment {usable[int(cos.argmin())]}: cosine {cos.min():.6f}"


@pytest.mark.parametrize("frames", [3, 4, 99, 100, 101, 148, 199, 200, 201, 403])
def test_onnx_graph_matches_numpy(onnx_model: se.SpeakerEmbedder, frames: int) -> None:
    # Lengths around the CAM layer's 100-frame segments (200 fbank frames -> 100 after the strided layer).
    feats = np.random.default_rng(frames).standard_normal((3, frames, 80)).astype(np.float32)
    got = onnx_model.forward(feats)
    expected = onnx_model.forward_numpy(feats)
    assert np.abs(got - expected).max() < 1e-3 * np.abs(expected).max()


def test_batch_equals_one_at_a_time(model: se.SpeakerEmbedder, audio: dict[str, F32]) -> None:
    x = audio["jfk"]
    segments = [cut(x, 0.0, 1.5), cut(x, 2.0, 3.0), cut(x, 3.0, 4.5), cut(x, 1.0, 4.3), cut(x, 5.0, 6.5)]
    batched = model.embed_batch(segments, batch_size=2)
    single = np.stack([model.embed(s) for s in segments])
    assert batched.shape == (5, se.EMBEDDING_DIM)
    assert batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_too_short_or_not_mono_is_refused(model: se.SpeakerEmbedder) -> None:
    with pytest.raises(ValueError, match="too short"):
        model.embed(np.zeros(se.MIN_SAMPLES - 1, np.float32))
    with pytest.raises(ValueError, match="mono"):
        model.embed(np.zeros((2, 16000), np.float32))
    assert np.isfinite(model.embed(np.zeros(se.MIN_SAMPLES, np.float32))).all()
    assert model.embed_batch([]).shape == (0, se.EMBEDDING_DIM)


# -- speakers --------------------------------------------------------------------------------------------------


def test_same_speaker_scores_clearly_higher_than_another(
    model: se.SpeakerEmbedder, audio: dict[str, F32]
) -> None:
    # 1.5 s windows every 0.75 s, as diarization would take them.
    left = model.embed_batch(windows(audio["left"], 0.0, 5.0))
    right = model.embed_batch(windows(audio["right"], 0.2, 2.6))
    assert len(left) == 5
    assert len(right) == 2
    within = np.concatenate([cosines(left, left, same=True), cosines(right, right, same=True)])
    across = cosines(left, right)
    # measured: within 0.51..0.79 (left), 0.76 (right); across 0.13..0.23
    assert within.min() > 0.45
    assert across.max() < 0.35
    assert within.min() - across.max() > 0.2


def test_one_speaker_across_languages_and_others(model: se.SpeakerEmbedder, audio: dict[str, F32]) -> None:
    # multilingual.mp3: one reader, English until ~29 s, then German. Per-window scores are noisy (pauses,
    # short windows), so this compares each window's mean similarity to a speaker's set, as clustering would.
    english = model.embed_batch(windows(audio["multilingual"], 0.0, 28.5))
    german = model.embed_batch(windows(audio["multilingual"], 30.0, 59.0))
    others = model.embed_batch(
        windows(audio["left"], 0.0, 5.0)
        + windows(audio["right"], 0.2, 2.6)
        + windows(audio["jfk"], 0.0, 11.0)
    )
    en_de = english @ german.T
    # measured: English-English mean 0.65, German-German 0.58, English-German 0.26 (a change of language
    # costs similarity), either vs the three other speakers 0.00-0.02 (max 0.24); centroids: 0.41 vs <= 0.14
    assert en_de.mean() > 0.2
    assert (english @ others.T).mean() < 0.1
    assert (german @ others.T).mean() < 0.1
    assert np.all(en_de.mean(axis=1) > (english @ others.T).mean(axis=1) + 0.05)
    assert np.all(en_de.mean(axis=0) > (german @ others.T).mean(axis=1) + 0.05)
    en_centroid, de_centroid = english.mean(axis=0), german.mean(axis=0)
    en_centroid /= np.linalg.norm(en_centroid)
    de_centroid /= np.linalg.norm(de_centroid)
    assert en_centroid @ de_centroid > max((others @ en_centroid).max(), (others @ de_centroid).max()) + 0.15

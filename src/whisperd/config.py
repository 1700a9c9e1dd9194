"""Settings: every knob of the server, read from flags or ``WHISPERD_*`` environment variables.

The settings are flat (``WHISPERD_PORT``, ``WHISPERD_MAX_UPLOAD_BYTES``) rather than nested so that a
systemd unit, a shell and a container can each set any of them with one plain variable. The parts that
travel together are handed to the code that uses them as typed groups (:meth:`Settings.decoding`,
:meth:`Settings.upload_limits`), never as long positional lists.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "DEFAULT_ALIASES",
    "MAX_KNOWN_SPEAKERS",
    "DecodingPolicy",
    "Device",
    "JobPolicy",
    "Profile",
    "Settings",
    "UploadLimits",
    "WebhookPolicy",
    "WyomingEndpoint",
    "WyomingLimits",
    "seconds",
]

Device = Literal["auto", "cpu", "cuda"]
Profile = Literal["fast", "accurate"]

DEFAULT_ALIASES: dict[str, str] = {
    "whisper-1": "default",
    "gpt-4o-transcribe": "default",
    "gpt-4o-mini-transcribe": "default",
    "gpt-4o-transcribe-diarize": "default",
    "gpt-4o-mini-transcribe-2025-12-15": "default",
    "gpt-transcribe": "default",
    "gpt-live-transcribe": "default",
    "gpt-realtime-whisper": "default",
}


def _state_home() -> Path:
    """Where logs and caches go when no folder is configured (XDG, as a user service expects)."""
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "whisperd"


MAX_KNOWN_SPEAKERS = 4
"""Known speakers one request may name (OpenAI's limit)."""


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisperd"


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "whisperd"


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(value: object) -> object:
    """``604800``, ``"7d"``, ``"12h"``, ``"30m"`` or ``"90s"`` as seconds; anything else is left to pydantic."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text and text[-1] in _UNITS:
            try:
                return float(text[:-1]) * _UNITS[text[-1]]
            except ValueError:
                return value
    return value


class Settings(BaseSettings):
    """The whole configuration of one whisperd process."""

    model_config = SettingsConfigDict(
        env_prefix="WHISPERD_",
        use_attribute_docstrings=True,
        extra="ignore",
        protected_namespaces=(),
    )

    # --- network -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    """Address to bind. Loopback by default: exposing voice data to a network is a deliberate act."""
    port: int = Field(default=5000, ge=0, le=65535)
    """TCP port (5000, as in the reference design, so existing clients need no change)."""

    # --- access --------------------------------------------------------------------------------
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Keys that clients must send as ``Authorization: Bearer KEY`` (comma-separated). None: no auth."""
    api_keys_file: Path | None = None
    """A file with one key per line (``#`` comments allowed); re-read on SIGHUP."""
    allow_unauthenticated: bool = False
    """Allow binding to a non-loopback address without keys (logged as a warning on every start)."""

    # --- Wyoming (Home Assistant) and discovery ---------------------------------------------
    wyoming_uri: str | None = None
    """Also serve the Wyoming protocol (Home Assistant's speech-to-text) at ``tcp://HOST:PORT``, in this
    process and over the same models and job slots as the HTTP API. None: no Wyoming server. Wyoming
    has no authentication, so API keys do not protect it: a non-loopback HOST needs
    ``--allow-unauthenticated``."""
    wyoming_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Client networks allowed to use the Wyoming server (comma-separated CIDRs, e.g.
    ``192.168.1.0/24,10.0.0.5/32``). Empty: any client that can reach it."""
    wyoming_max_connections: int = Field(default=16, ge=1)
    """Wyoming connections open at once; a further one is answered with an error and closed."""
    wyoming_max_utterance_seconds: float = Field(default=120.0, gt=0)
    """Longest audio of one Wyoming utterance; beyond it the client gets an error and is disconnected."""
    wyoming_idle_seconds: float = Field(default=30.0, gt=0)
    """A Wyoming connection that sends no complete event for this long (while no transcription runs) is
    closed, so that idle or stalled clients do not hold connections."""
    wyoming_partials: bool = False
    """Stream text while the person is still speaking (``transcript-start``, ``transcript-chunk``...,
    ``transcript``, ``transcript-stop``; ``info`` then says ``supports_transcript_streaming``), from
    drafts that share the realtime sessions' budget. Words once sent stand, so the text can differ from
    the HTTP API's where a draft misheard; off (the default): one ``transcript``, the HTTP API's text."""
    advertise: bool | None = None
    """Announce the server on the LAN with mDNS/zeroconf (``_whisperd._tcp`` for the HTTP API,
    ``_wyoming._tcp`` for Home Assistant). None (the default, also ``auto``): only what listens beyond
    loopback."""
    advertise_name: str | None = None
    """The name announced on the LAN (default ``whisperd on HOSTNAME``)."""

    # --- models --------------------------------------------------------------------------------
    model: str = "base"
    """Default model: a name (tiny.en, base, small, ...), or a local CTranslate2 model folder."""
    aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ALIASES))
    """Model names that clients send and what they mean; ``default`` is the default model.
    Set as JSON, e.g. ``WHISPERD_ALIASES='{"whisper-1": "small"}'``."""
    diarize_models: list[str] = Field(default_factory=lambda: ["gpt-4o-transcribe-diarize"])
    """Model names that mean "with speakers" (OpenAI's diarization model): ``diarized_json``, known speakers
    and the stream's segment events; JSON list. Each must also be an alias or a model name."""
    speaker_model: Path | None = None
    """The speaker-embedding weights (CAM++) that diarization of one-channel audio uses; default
    ``<cache_dir>/speakers/campplus_cn_en_common.pt``, where ``whisperd models pull campplus`` puts them."""
    model_dirs: list[Path] = Field(default_factory=list)
    """Extra folders whose sub-folders are CTranslate2 models that clients may name."""
    cache_dir: Path = Field(default_factory=_cache_home)
    """Where split model packs are assembled, ``whisperd models pull`` downloads and ``whisperd models
    import`` copies models. Clients can only use models present here, in a pack or a model folder."""
    model_ttl: float = Field(default=600.0, ge=0)
    """Seconds an idle model stays loaded before it is unloaded (0: never). Not the default model's,
    unless ``WHISPERD_PIN_DEFAULT_MODEL=false``."""
    pin_default_model: bool = True
    """Keep the default model loaded whatever the TTL and caps (it answers most requests)."""
    max_loaded_models: int = Field(default=3, ge=0)
    """Most models loaded at once (0: no cap); beyond it the least recently used idle one unloads."""
    model_memory_mb: int = Field(default=0, ge=0)
    """Budget for loaded models' weights in MiB (0: none); kept like the count cap."""
    model_load_concurrency: int = Field(default=1, ge=1)
    """Models loaded at the same time (each load is a burst of disk reads and memory)."""
    device: Device = "auto"
    """auto picks CUDA when CTranslate2 sees a GPU, the CPU otherwise."""
    compute_type: str = "auto"
    """CTranslate2 compute type; auto means float16 on CUDA and int8 on the CPU."""
    cpu_threads: int = Field(default=0, ge=0)
    """Threads per model replica on the CPU; 0 picks from the machine (see engine.tuning)."""
    num_workers: int = Field(default=0, ge=0)
    """Model replicas that run requests in parallel; 0 picks from the machine."""
    warmup: bool = True
    """Run one tiny inference at load so that the first real request is not the slow one."""
    batching: bool = True
    """Merge the model calls of concurrent requests (and of the chunks of one long file) into batched
    calls, so that requests do not queue behind one another. Off: each request decodes alone."""
    batch_size: int = Field(default=0, ge=0)
    """Most 30 s windows in one batched call; 0 picks from the device (8 on the CPU, 16 on CUDA)."""
    chunk_seconds: float = Field(default=30.0, ge=0)
    """With batching and VAD on, audio longer than this is cut at pauses into sections decoded side by
    side; 0 decodes every file window after window (faster-whisper's ``transcribe``, each window
    prompted with the text before it)."""
    longform_sections: int = Field(default=0, ge=0)
    """Sections a long file is cut into (at pauses), each decoded window after window with its own
    running context, side by side; 0: one per batch row. More sections: faster, less context."""

    # --- decoding ------------------------------------------------------------------------------
    profile: Profile = "accurate"
    """Decoding preset: accurate = beam search (beam 5, as the reference design); fast = greedy."""
    vad_filter: bool = True
    """Skip non-speech with Silero VAD: silence yields empty text instead of an invented phrase."""
    temperature_fallback: bool = True
    """With temperature 0, retry failed windows at higher temperatures (OpenAI's behaviour), which samples
    at random. Off makes a request's text reproducible when it runs alone, at the cost of occasional
    repetition loops; under concurrent load, batched decoding can still change a word here and there
    (see the README's Performance section)."""

    # --- limits --------------------------------------------------------------------------------
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    """Largest accepted upload, enforced while it streams in (OpenAI's limit is 25 MiB)."""
    max_audio_seconds: float = Field(default=4 * 3600, gt=0)
    """Longest accepted audio; longer files are refused while decoding, before inference."""
    max_decode_seconds: float = Field(default=60.0, gt=0)
    """Wall time allowed to decode one upload; hostile files that decode slowly are refused."""
    max_field_bytes: int = Field(default=64 * 1024, gt=0)
    """Largest accepted non-file form field (prompt, language, ...)."""
    max_concurrent_jobs: int = Field(default=0, ge=0)
    """Requests decoded and transcribed at once; 0 means one per model replica."""
    max_queued_jobs: int = Field(default=16, ge=0)
    """Requests allowed to wait for a slot; beyond that the answer is 429 with Retry-After."""
    temp_dir: Path | None = None
    """Folder for uploads in flight (a private sub-folder is made and swept at start-up)."""
    max_uploads_in_flight: int = Field(default=64, ge=1)
    """Request bodies read at once; beyond it a request is answered 429 before its body is read."""
    upload_stall_seconds: float = Field(default=30.0, gt=0)
    """A body that sends nothing for this long is dropped (408), freeing its descriptor and file."""
    upload_min_bytes_per_second: int = Field(default=4096, ge=0)
    """After the grace period, a body arriving slower than this on average is dropped (408)."""
    upload_grace_seconds: float = Field(default=30.0, ge=0)
    """Seconds before the minimum upload rate applies (slow starts, small files)."""

    # --- live sessions (OpenAI Realtime transcription) ------------------------------------------------
    max_realtime_sessions: int = Field(default=8, ge=1)
    """Live transcription sockets open at once; beyond that, the upgrade is refused with 429."""
    realtime_idle_seconds: float = Field(default=60.0, gt=0)
    """A live session that sends nothing for this long is closed (with an error event saying why)."""
    realtime_max_session_seconds: float = Field(default=3600.0, gt=0)
    """Longest live session (OpenAI's limit is an hour as well)."""
    realtime_max_buffer_seconds: float = Field(default=300.0, gt=0)
    """Audio a client may append before committing, when it commits turns itself."""
    realtime_partial_seconds: float = Field(default=0.5, gt=0)
    """New audio between two drafts of a turn still being spoken (more often: livelier text, more CPU);
    also of a Wyoming utterance."""
    client_secret_seconds: int = Field(default=600, ge=10, le=7200)
    """Default life of a client secret (``POST /v1/realtime/client_secrets``), for browsers."""

    # --- asynchronous jobs (POST /v1/audio/jobs) -------------------------------------------------
    jobs: bool = True
    """Serve asynchronous jobs: the audio is kept in the data folder until it is transcribed, the result
    until the retention ends. Off: the job endpoints answer 404 and nothing is written to the data folder."""
    data_dir: Path = Field(default_factory=_data_home)
    """Where jobs live: their database (SQLite), their audio until they end. One server per folder."""
    job_slots: int = Field(default=1, ge=1)
    """Jobs transcribed at once, each holding one worker slot; jobs never hold the last slot, and waiting
    requests always go first, so jobs never starve interactive requests."""
    job_retention: Annotated[float, BeforeValidator(seconds)] = Field(default=7 * 86400.0, gt=0)
    """How long a finished job and its result are kept (seconds, or 7d, 12h, 30m), then swept."""
    job_max_queued: int = Field(default=100, ge=1)
    """Jobs waiting or running at once; one more is refused with 429."""
    job_max_stored_bytes: int = Field(default=4 * 1024**3, gt=0)
    """Audio kept for unfinished jobs (and being uploaded for new ones), in bytes; beyond it, 429."""
    job_max_upload_bytes: int = Field(default=1024**3, gt=0)
    """Largest audio file one job accepts, enforced while it streams in (413)."""
    job_max_kept: int = Field(default=10_000, ge=1)
    """Finished jobs kept at most; beyond it the oldest are swept before their retention ends."""
    job_max_event_streams: int = Field(default=64, ge=1)
    """Job event streams (``GET /v1/audio/jobs/{id}/events``) open at once; beyond it, 429."""
    webhook_secret: SecretStr | None = None
    """The key that signs webhooks, in Standard Webhooks' ``whsec_<base64>`` form (any Standard
    Webhooks library verifies them with it). None: jobs cannot ask for a webhook."""
    webhook_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Where webhooks may go: host names and IP networks, comma-separated (``127.0.0.0/8,hooks.lan``). A
    webhook is a request this server makes on a client's behalf; nothing else is reachable that way."""
    webhook_timeout: float = Field(default=10.0, gt=0)
    """Seconds one webhook delivery may take before it counts as failed."""
    webhook_max_attempts: int = Field(default=12, ge=1)
    """Deliveries of one event at most (the first and its retries), kept across restarts."""
    webhook_retry_seconds: float = Field(default=10.0, gt=0)
    """Wait before the first retry; each later retry waits twice as long as the one before, up to an hour."""

    # --- metrics -------------------------------------------------------------------------------
    openai_price_per_minute: float = Field(default=0.006, ge=0)
    """OpenAI's price per audio minute (whisper-1: $0.006), only for the
    ``whisperd_openai_cost_saved_dollars_total`` metric: what the audio served here would have cost."""

    # --- logging -------------------------------------------------------------------------------
    log_dir: Path = Field(default_factory=lambda: _state_home() / "logs")
    """Folder of the rotating log file (10 MB x 5)."""
    log_level: str = "INFO"
    """Python logging level name."""
    log_transcripts: bool = False
    """Log the transcript text of each request. Off by default: transcripts are private."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("wyoming_allow_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for network in value:
                ipaddress.ip_network(str(network), strict=False)  # a ValueError names the bad one
        return value

    @field_validator("advertise", mode="before")
    @classmethod
    def _auto_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "auto"):
            return None
        return value

    @field_validator("wyoming_uri")
    @classmethod
    def _tcp_uri(cls, value: str | None) -> str | None:
        if value is not None:
            WyomingEndpoint.parse(value)
        return value

    @field_validator("webhook_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        if isinstance(value, list):
            from whisperd.jobs.webhooks import Targets

            Targets.parse([str(entry) for entry in value])  # a ValueError names the bad entry
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from whisperd.jobs.webhooks import parse_secret

            parse_secret(value.get_secret_value())  # a ValueError says what a secret looks like
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return upper

    def speaker_weights(self) -> Path:
        """Where the speaker model's weights are (or are to be installed)."""
        from whisperd.diarization.weights import default_weights_path

        return self.speaker_model or default_weights_path(self.cache_dir)

    def decoding(self) -> DecodingPolicy:
        """The decoding settings every request follows."""
        return DecodingPolicy(
            profile=self.profile,
            vad_filter=self.vad_filter,
            temperature_fallback=self.temperature_fallback,
            max_audio_seconds=self.max_audio_seconds,
            max_decode_seconds=self.max_decode_seconds,
        )

    def wyoming_endpoint(self) -> WyomingEndpoint | None:
        """Where the Wyoming server listens, or None when it is off."""
        return WyomingEndpoint.parse(self.wyoming_uri) if self.wyoming_uri else None

    def wyoming_limits(self) -> WyomingLimits:
        """The bounds on Wyoming connections and utterances."""
        return WyomingLimits(
            max_connections=self.wyoming_max_connections,
            max_utterance_seconds=self.wyoming_max_utterance_seconds,
            idle_seconds=self.wyoming_idle_seconds,
            allow_networks=tuple(self.wyoming_allow_networks),
            partials=self.wyoming_partials,
            partial_seconds=self.realtime_partial_seconds,
        )

    def job_policy(self) -> JobPolicy:
        """The bounds and lifetimes of asynchronous jobs."""
        return JobPolicy(
            data_dir=self.data_dir,
            slots=self.job_slots,
            retention_seconds=self.job_retention,
            max_queued=self.job_max_queued,
            max_stored_bytes=self.job_max_stored_bytes,
            max_upload_bytes=self.job_max_upload_bytes,
            max_kept=self.job_max_kept,
            max_event_streams=self.job_max_event_streams,
        )

    def webhook_policy(self) -> WebhookPolicy:
        """Where webhooks may go, how they are signed and how hard their delivery is tried."""
        return WebhookPolicy(
            secret=self.webhook_secret.get_secret_value() if self.webhook_secret else None,
            allow=tuple(self.webhook_allow),
            timeout_seconds=self.webhook_timeout,
            max_attempts=self.webhook_max_attempts,
            retry_seconds=self.webhook_retry_seconds,
        )

    def upload_limits(self) -> UploadLimits:
        """The bounds on request bodies in flight."""
        return UploadLimits(
            max_file_bytes=self.max_upload_bytes,
            max_field_bytes=self.max_field_bytes,
            stall_seconds=self.upload_stall_seconds,
            min_bytes_per_second=self.upload_min_bytes_per_second,
            grace_seconds=self.upload_grace_seconds,
        )


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What one request body may be: its size, its fields, and how slowly it may arrive."""

    max_file_bytes: int = 25 * 1024 * 1024
    max_field_bytes: int = 64 * 1024
    max_reference_bytes: int = 4 * 1024 * 1024
    """One ``known_speaker_references[]`` data URL: 10 s of 48 kHz stereo WAV in base64 fits."""
    max_references: int = MAX_KNOWN_SPEAKERS
    stall_seconds: float = 30.0
    min_bytes_per_second: int = 4096
    grace_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class DecodingPolicy:
    """The operator's decoding settings that every request of this process follows."""

    profile: Profile = "accurate"
    vad_filter: bool = True
    temperature_fallback: bool = True
    max_audio_seconds: float = 4 * 3600.0
    max_decode_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class WyomingEndpoint:
    """The address of the Wyoming listener, from ``tcp://HOST:PORT``."""

    host: str
    port: int

    @staticmethod
    def parse(uri: str) -> WyomingEndpoint:
        """``tcp://HOST:PORT`` (IPv6 in brackets); a ValueError that says what is expected otherwise."""
        parts = urlsplit(uri.strip())
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError(
                f"{uri!r} is not a Wyoming address: use tcp://HOST:PORT, e.g. tcp://127.0.0.1:10300"
            )
        return WyomingEndpoint(parts.hostname, port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class WyomingLimits:
    """What one Wyoming server lets its clients hold: connections, audio, idle time, who may connect."""

    max_connections: int = 16
    max_utterance_seconds: float = 120.0
    idle_seconds: float = 30.0
    allow_networks: tuple[str, ...] = ()
    partials: bool = False
    """Send text while the person speaks (``transcript-start`` / ``-chunk`` / ``-stop``)."""
    partial_seconds: float = 0.5
    """New audio between two drafts of an utterance."""


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """Where jobs live, how many there may be and how long they are kept."""

    data_dir: Path
    slots: int = 1
    retention_seconds: float = 7 * 86400.0
    max_queued: int = 100
    max_stored_bytes: int = 4 * 1024**3
    max_upload_bytes: int = 1024**3
    max_kept: int = 10_000
    max_event_streams: int = 64


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Webhooks: the signing secret (None: no webhooks), the allowed targets and the retry schedule."""

    secret: str | None = None
    allow: tuple[str, ...] = ()
    timeout_seconds: float = 10.0
    max_attempts: int = 12
    retry_seconds: float = 10.0

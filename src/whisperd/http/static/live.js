// Live mode: the microphone streamed to whisperd's Realtime transcription socket, words as they are said.
//
// The browser resamples the microphone to 24 kHz (an AudioContext at that rate), an AudioWorklet hands
// the samples over, and they go out as PCM16 in input_audio_buffer.append events (OpenAI's Realtime
// API, GA shape). The server finds the turns (server VAD); deltas are shown while a turn is spoken, and
// each completed turn comes back with its audio, cut from what was sent, so that it can be played and
// downloaded like an upload. A page never holds more than the last few minutes of audio.

const RATE = 24_000;
const KEEP_SECONDS = 300;

/** base64 of little-endian PCM16 for float samples in [-1, 1]. */
function pcm16(samples) {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** A mono 16-bit WAV of float samples. */
function wav(samples) {
  const data = new DataView(new ArrayBuffer(44 + samples.length * 2));
  const text = (offset, value) => [...value].forEach((c, i) => data.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  data.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVEfmt ");
  data.setUint32(16, 16, true);
  data.setUint16(20, 1, true);
  data.setUint16(22, 1, true);
  data.setUint32(24, RATE, true);
  data.setUint32(28, RATE * 2, true);
  data.setUint16(32, 2, true);
  data.setUint16(34, 16, true);
  text(36, "data");
  data.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => data.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([data], { type: "audio/wav" });
}

export class LiveSession {
  #socket = null;
  #context = null;
  #stream = null;
  #chunks = [];
  #first = 0; // sample index of the first kept sample
  #sent = 0; // samples sent so far
  #starts = new Map();
  #closing = null;
  #speaking = null; // the item being spoken, between speech_started and speech_stopped
  #pending = 0; // committed turns not completed yet
  #stopping = false;

  /**
   * @param {{onDelta: (item: string, delta: string) => void, onTurn: (turn: object) => void,
   *          onError: (message: string) => void, onClose: () => void}} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
  }

  /** Open the socket (with a client secret when the server wants keys) and start the microphone. */
  async start({ model, language, secret }) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const protocols = ["realtime", ...(secret ? [`openai-insecure-api-key.${secret}`] : [])];
    const socket = new WebSocket(`${scheme}://${location.host}/v1/realtime?intent=transcription`, protocols);
    this.#socket = socket;
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("The live connection was refused (is an API key needed?)."));
    });
    socket.onmessage = (message) => this.#event(JSON.parse(message.data));
    socket.onclose = () => this.#closed();
    const transcription = { model };
    if (language) transcription.language = language;
    this.#send({
      type: "session.update",
      session: {
        type: "transcription",
        audio: { input: { format: { type: "audio/pcm", rate: RATE }, transcription, turn_detection: { type: "server_vad" } } },
      },
    });
    this.#stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
    this.#context = new AudioContext({ sampleRate: RATE });
    await this.#context.audioWorklet.addModule("/static/live-worklet.js");
    const capture = new AudioWorkletNode(this.#context, "whisperd-capture");
    capture.port.onmessage = ({ data }) => this.#audio(data);
    this.#context.createMediaStreamSource(this.#stream).connect(capture);
  }

  /** Stop the microphone, let the turns still in flight finish, then close (within 10 s at most). */
  async stop() {
    this.#release();
    this.#stopping = true;
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    if (this.#speaking) {
      this.#send({ type: "input_audio_buffer.commit" }); // the turn being spoken
      this.#pending += 1;
      this.#speaking = null;
    }
    this.#closing = setTimeout(() => this.#socket?.close(), 10_000);
    this.#closeIfDone();
  }

  #closeIfDone() {
    if (this.#stopping && this.#pending <= 0) this.#socket?.close();
  }

  #audio(samples) {
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#send({ type: "input_audio_buffer.append", audio: pcm16(samples) });
    this.#chunks.push(samples);
    this.#sent += samples.length;
    while (this.#sent - this.#first - this.#chunks[0].length > KEEP_SECONDS * RATE) {
      this.#first += this.#chunks.shift().length;
    }
  }

  #cut(startMs, endMs) {
    const all = new Float32Array(this.#sent - this.#first);
    let offset = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    const from = Math.max(0, Math.round((startMs / 1000) * RATE) - this.#first);
    const to = Math.max(from, Math.round((endMs / 1000) * RATE) - this.#first);
    return all.subarray(from, to);
  }

  #event(event) {
    switch (event.type) {
      case "input_audio_buffer.speech_started":
        this.#starts.set(event.item_id, event.audio_start_ms);
        this.#speaking = event.item_id;
        break;
      case "input_audio_buffer.speech_stopped":
        this.#starts.set(event.item_id, [this.#starts.get(event.item_id) ?? 0, event.audio_end_ms]);
        this.#speaking = null;
        this.#pending += 1;
        break;
      case "input_audio_buffer.committed": {
        const start = this.#starts.get(event.item_id);
        if (!Array.isArray(start)) this.#starts.set(event.item_id, [start ?? 0, (this.#sent / RATE) * 1000]);
        break;
      }
      case "conversation.item.input_audio_transcription.delta":
        this.hooks.onDelta(event.item_id, event.delta);
        break;
      case "conversation.item.input_audio_transcription.completed": {
        const span = this.#starts.get(event.item_id);
        const [start, end] = Array.isArray(span) ? span : [0, (this.#sent / RATE) * 1000];
        this.#starts.delete(event.item_id);
        this.hooks.onTurn({
          item: event.item_id,
          transcript: event.transcript,
          seconds: event.usage?.seconds ?? (end - start) / 1000,
          audio: wav(this.#cut(start, end)),
        });
        this.#pending -= 1;
        this.#closeIfDone();
        break;
      }
      case "conversation.item.input_audio_transcription.failed":
        this.hooks.onError(event.error?.message ?? "A turn could not be transcribed.");
        this.#pending -= 1;
        this.#closeIfDone();
        break;
      case "error":
        if (event.error?.code !== "input_audio_buffer_commit_empty") this.hooks.onError(event.error?.message ?? "Error");
        break;
      default:
        break;
    }
  }

  #send(event) {
    this.#socket.send(JSON.stringify(event));
  }

  #release() {
    this.#stream?.getTracks().forEach((track) => track.stop());
    this.#stream = null;
    this.#context?.close();
    this.#context = null;
  }

  #closed() {
    clearTimeout(this.#closing);
    this.#release();
    this.#socket = null;
    this.hooks.onClose();
  }

  get active() {
    return this.#socket !== null;
  }
}

// Recording from the microphone with MediaRecorder: WebM/Opus where the browser has it (Chromium,
// Firefox), else whatever it records (Safari: MP4/AAC); whisperd decodes all of them.

const PREFERRED = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
const EXTENSIONS = { "audio/webm": "webm", "audio/ogg": "ogg", "audio/mp4": "m4a" };

/** Why recording cannot work on this page, or null when it can. */
export function unavailableReason() {
  if (!window.isSecureContext) {
    return "Browsers allow the microphone only on secure pages: open this page as http://localhost:PORT on the server itself, or through HTTPS (a reverse proxy). Files can still be uploaded.";
  }
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") {
    return "This browser cannot record audio here. Files can still be uploaded.";
  }
  return null;
}

export class Recorder {
  #stream = null;
  #recorder = null;
  #chunks = [];
  #context = null;
  #frame = 0;
  started = 0;

  /** Ask for the microphone and start; `onLevel(0..1)` is called about 60 times a second. */
  async start(onLevel) {
    this.#stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, channelCount: 1 },
    });
    const mimeType = PREFERRED.find((type) => MediaRecorder.isTypeSupported(type));
    this.#recorder = new MediaRecorder(this.#stream, mimeType ? { mimeType } : {});
    this.#chunks = [];
    this.#recorder.ondataavailable = (event) => event.data.size && this.#chunks.push(event.data);
    this.#recorder.start(1000);
    this.started = performance.now();
    if (onLevel) this.#meter(onLevel);
  }

  get recording() {
    return this.#recorder?.state === "recording";
  }

  /** Stop; resolves to {blob, extension} of the whole recording. */
  stop() {
    const recorder = this.#recorder;
    return new Promise((resolve, reject) => {
      recorder.onstop = () => {
        const type = (recorder.mimeType || this.#chunks[0]?.type || "audio/webm").split(";")[0];
        resolve({ blob: new Blob(this.#chunks, { type }), extension: EXTENSIONS[type] ?? "webm" });
        this.#chunks = [];
      };
      recorder.onerror = (event) => reject(event.error ?? new Error("The recording failed."));
      recorder.stop();
      this.#release();
    });
  }

  /** Drop the recording (page closed, error): the microphone light goes off at once. */
  cancel() {
    if (this.#recorder && this.#recorder.state !== "inactive") {
      this.#recorder.onstop = null;
      this.#recorder.stop();
    }
    this.#chunks = [];
    this.#release();
  }

  #release() {
    cancelAnimationFrame(this.#frame);
    this.#context?.close();
    this.#context = null;
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#stream = null;
  }

  /** A level meter, so that a muted or wrong microphone shows before the recording is wasted. */
  #meter(onLevel) {
    try {
      this.#context = new AudioContext();
      const analyser = this.#context.createAnalyser();
      analyser.fftSize = 1024;
      this.#context.createMediaStreamSource(this.#stream).connect(analyser);
      const samples = new Float32Array(analyser.fftSize);
      const tick = () => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const s of samples) sum += s * s;
        onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
        this.#frame = requestAnimationFrame(tick);
      };
      tick();
    } catch {
      // the meter is a comfort, not a requirement
    }
  }
}

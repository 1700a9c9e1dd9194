// The microphone's samples, handed to the page as they come (an AudioWorklet runs off the main thread).
//
// Each render quantum is 128 frames; gathering 20 of them (107 ms at 24 kHz) before posting keeps the
// messages few, and the page sends each batch as one input_audio_buffer.append.

const FRAMES = 128 * 20;

class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(FRAMES);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel) {
      let offset = 0;
      while (offset < channel.length) {
        const take = Math.min(channel.length - offset, FRAMES - this.filled);
        this.buffer.set(channel.subarray(offset, offset + take), this.filled);
        this.filled += take;
        offset += take;
        if (this.filled === FRAMES) {
          this.port.postMessage(this.buffer.slice());
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("whisperd-capture", Capture);

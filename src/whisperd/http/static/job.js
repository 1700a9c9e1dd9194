// One file or recording on its way to a transcript: its card, its requests, its downloads.
//
// Streaming answers carry text without timestamps, so with "text as it is transcribed" on, a job sends
// two requests: the stream, whose deltas are shown as they come, and a verbose_json request for the
// segment (and word) timestamps that clicking, subtitles and the JSON download need. The second one is
// sent only once the stream has started, that is once the server has given the stream a worker slot:
// a one-slot server then queues it behind the stream (the text still comes first), and a server with
// free slots runs both at once. It costs a second pass over the audio; turning the option off makes a
// job one verbose_json request, with a progress bar but no text until the end.
//
// Long files (and any file when "As a background job" is on) go to the server as jobs instead
// (background.js): the upload ends the card's turn in the page's queue, the job's events then move its
// progress bar, and the card finds its job again after a reload.

import { follow, isLong, jobError, jobFields, optionsOf, randomKey } from "./background.js";
import { describe } from "./messages.js";
import { DOWNLOADS, clock } from "./subtitles.js";

let counter = 0;

export class Job {
  /**
   * @param {object} init
   * @param {Blob|null} init.file the audio (null for a job found again after a reload)
   * @param {string} init.name the file name shown and sent
   * @param {{model: string, language: string, task: string, words: boolean, live: boolean, background: boolean}} init.options
   * @param {import("./api.js").Api} init.api
   * @param {() => boolean} init.hasKey whether the browser holds an API key
   * @param {(job: Job) => void} init.onRetry puts the job back in the queue
   * @param {(reason: string) => void} init.onAskKey opens the key dialog
   */
  constructor({ file, name, options, api, hasKey, onRetry, onAskKey }) {
    this.id = ++counter;
    this.file = file;
    this.name = name;
    this.options = { ...options };
    this.api = api;
    this.hasKey = hasKey;
    this.onAskKey = onAskKey;
    this.result = null;
    this.needsKey = false;
    this.controller = null;
    this.flashTimer = 0;
    this.outcome = "";
    this.serverJob = null; // the id of its job on the server, when it went as one
    this.key = null; // the Idempotency-Key of its submission

    const template = document.getElementById("job-template");
    this.el = template.content.firstElementChild.cloneNode(true);
    this.el.id = `job-${this.id}`;
    this.$ = (selector) => this.el.querySelector(selector);
    this.$(".job-name").textContent = name;
    this.$(".job-name").title = name;
    this.audio = this.$(".job-audio");
    this.audioUrl = file ? URL.createObjectURL(file) : null;
    if (this.audioUrl) this.audio.src = this.audioUrl;
    else this.audio.hidden = true; // a job found again after a reload: its audio stayed where it came from
    this.audio.setAttribute("aria-label", `Audio of ${name}`);
    this.$(".job-progress").setAttribute("aria-label", `Progress of ${name}`);

    this.$(".job-cancel").addEventListener("click", () => (this.controller ? this.cancel() : this.remove()));
    this.$(".job-retry").addEventListener("click", () => onRetry(this));
    this.$(".job-copy").addEventListener("click", () => this.#copy());
    for (const button of this.el.querySelectorAll("[data-download]")) {
      button.addEventListener("click", () => this.download(button.dataset.download));
    }
    this.audio.addEventListener("timeupdate", () => this.#follow(this.audio.currentTime));
    this.#state("Waiting for the files before it…");
  }

  get base() {
    return this.name.replace(/\.[^.]+$/, "") || "transcript";
  }

  #fields(verbose) {
    const { model, language, task, words } = this.options;
    const fields = [["model", model]];
    if (task === "transcribe" && language) fields.push(["language", language]);
    if (!verbose) return [...fields, ["stream", "true"]];
    fields.push(["response_format", "verbose_json"]);
    if (words) fields.push(["timestamp_granularities[]", "word"]);
    return fields;
  }

  #request(verbose, hooks = {}) {
    return this.api.transcribe({
      endpoint: this.options.task === "translate" ? "translations" : "transcriptions",
      file: this.file,
      filename: this.name,
      fields: this.#fields(verbose),
      signal: this.controller.signal,
      ...hooks,
    });
  }

  /** A card for a job the server already has (found again after a reload); call track() to follow it. */
  static restore(job, init) {
    const name = job.metadata?.name || job.filename;
    const card = new Job({ ...init, file: null, name, options: optionsOf(job) });
    card.serverJob = job.id;
    card.el.dataset.jobId = job.id;
    return card;
  }

  /** Transcribe; resolves when done, failed or cancelled (never rejects: failures are shown). A job
   * on the server resolves once it is submitted, and goes on in the background. */
  async run() {
    if (!this.el.isConnected) return; // removed while it waited for its turn
    if (this.options.background || (await isLong(this.file, this.audio))) {
      await this.#submit();
      return;
    }
    this.#reset();
    const controller = (this.controller = new AbortController());
    const started = performance.now();
    let phase = "Uploading…";
    const tick = () => this.#state(`${phase} ${clock((performance.now() - started) / 1000)}`);
    const timer = setInterval(tick, 1000);
    const uploading = (fraction) => {
      const progress = this.$(".job-progress");
      if (fraction < 1) {
        progress.value = fraction;
        phase = `Uploading ${Math.floor(fraction * 100)} %…`;
      } else if (phase.startsWith("Uploading")) {
        progress.removeAttribute("value"); // indeterminate: the server does not report how far it is
        phase = "Transcribing…";
      }
      tick();
    };
    try {
      if (this.options.live) {
        let timestamps = null;
        const text = await this.#request(false, {
          onUpload: uploading,
          onStart: () => {
            timestamps = this.#request(true);
            timestamps.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
          },
          onDelta: (delta) => this.#appendLive(delta),
        });
        this.#setLive(text);
        this.result = { text, segments: [] };
        this.#showActions(false);
        phase = "Adding timestamps…";
        tick();
        try {
          this.result = await timestamps;
        } catch (error) {
          if (error.status !== 429) throw error;
          this.result = await this.#request(true); // a server with no queue refused it while the stream ran
        }
      } else {
        this.result = await this.#request(true, { onUpload: uploading });
      }
      this.#show(this.result);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const audio = this.result.duration ? `${clock(this.result.duration)} of audio` : "Done";
      this.#state(`${audio} in ${seconds} s`);
      this.el.dataset.state = "done";
    } catch (error) {
      if (error?.name === "AbortError") {
        this.#state("Cancelled");
        this.el.dataset.state = "cancelled";
      } else {
        this.#fail(error);
      }
    } finally {
      clearInterval(timer);
      controller.abort(); // ends any request still open (the timestamps after a failed stream)
      this.controller = null;
      this.el.setAttribute("aria-busy", "false");
      this.$(".job-progress").hidden = true;
      this.$(".job-cancel").textContent = "Remove";
      this.$(".job-cancel").setAttribute("aria-label", `Remove ${this.name}`);
    }
  }

  /** Upload the file as a job; then follow it without holding up the page's queue. */
  async #submit() {
    this.#reset();
    const controller = (this.controller = new AbortController());
    const progress = this.$(".job-progress");
    this.#state("Uploading as a job…");
    try {
      this.key ??= randomKey();
      const job = await this.api.submitJob({
        file: this.file,
        filename: this.name,
        fields: jobFields(this.options, this.name),
        key: this.key,
        signal: controller.signal,
        onUpload: (fraction) => {
          progress.value = fraction;
          this.#state(`Uploading as a job ${Math.floor(fraction * 100)} %…`);
        },
      });
      this.serverJob = job.id;
      this.el.dataset.jobId = job.id;
    } catch (error) {
      this.#ended(error);
      return;
    }
    this.track();
  }

  /** Follow the card's server job to its end, then show its result (or why it has none). */
  async track() {
    if (!this.controller) this.#reset();
    const controller = (this.controller ??= new AbortController());
    const started = performance.now();
    try {
      const ended = await follow(this.api, this.serverJob, { signal: controller.signal, onJob: (job) => this.#moved(job) });
      if (ended.status === "cancelled") throw new DOMException("The job was cancelled.", "AbortError");
      if (ended.status === "failed") throw jobError(ended);
      const { body } = await this.api.get(`/v1/audio/jobs/${this.serverJob}/result?response_format=verbose_json`, {
        signal: controller.signal,
      });
      this.result = body;
      this.#show(body);
      const seconds = ended.finished_at && ended.started_at ? ended.finished_at - ended.started_at : (performance.now() - started) / 1000;
      this.#state(`${clock(body.duration ?? 0)} of audio, as a job in ${Math.max(1, Math.round(seconds))} s`);
      this.el.dataset.state = "done";
      this.#ended(null);
    } catch (error) {
      this.#ended(error);
    }
  }

  /** The server job moved: its place in the queue, or how far it has got. */
  #moved(job) {
    const progress = this.$(".job-progress");
    if (job.status === "queued") {
      progress.removeAttribute("value");
      this.#state("Waiting for its turn on the server…");
    } else if (job.status === "running") {
      const { seconds, fraction } = job.progress;
      if (fraction === null) progress.removeAttribute("value");
      else progress.value = fraction;
      const of = job.duration ? ` of ${clock(job.duration)}` : "";
      const percent = fraction === null ? "" : ` (${Math.floor(fraction * 100)} %)`;
      this.#state(`Transcribing on the server: ${clock(seconds)}${of}${percent}`);
    }
  }

  /** A server job's card is over: done, failed or cancelled. */
  #ended(error) {
    if (error?.name === "AbortError") {
      this.#state("Cancelled");
      this.el.dataset.state = "cancelled";
    } else if (error) {
      if (this.file && this.serverJob) {
        this.#forget(); // "Try again" submits the file again, as a new job
        this.serverJob = null;
        this.key = null;
      }
      this.#fail(error);
      if (!this.file) this.$(".job-retry").hidden = true; // nothing to send again from here
    }
    this.controller?.abort();
    this.controller = null;
    this.el.setAttribute("aria-busy", "false");
    this.$(".job-progress").hidden = true;
    this.$(".job-cancel").textContent = "Remove";
    this.$(".job-cancel").setAttribute("aria-label", `Remove ${this.name}`);
  }

  /** Show a result that came from elsewhere (a live turn): no request, the same display and downloads. */
  complete(result, summary) {
    this.#reset();
    this.result = result;
    this.#show(result);
    this.#state(summary);
    this.el.dataset.state = "done";
    this.el.setAttribute("aria-busy", "false");
    this.$(".job-progress").hidden = true;
    this.$(".job-cancel").textContent = "Remove";
    this.$(".job-cancel").setAttribute("aria-label", `Remove ${this.name}`);
  }

  cancel() {
    if (this.serverJob) this.#forget(); // cancelled on the server, its audio deleted there
    this.controller?.abort();
  }

  remove() {
    if (this.serverJob) this.#forget(); // a finished job: its result deleted on the server
    this.serverJob = null;
    this.controller?.abort();
    if (this.audioUrl) URL.revokeObjectURL(this.audioUrl);
    this.el.remove();
  }

  /** DELETE the card's server job: a waiting or running one is cancelled, a finished one deleted. */
  #forget() {
    this.api.delete(`/v1/audio/jobs/${this.serverJob}`).catch(() => {}); // gone already: nothing to undo
  }

  #reset() {
    clearTimeout(this.flashTimer);
    this.flashTimer = 0;
    this.result = null;
    this.needsKey = false;
    this.el.dataset.state = "running";
    this.el.setAttribute("aria-busy", "true");
    this.$(".job-error").hidden = true;
    this.$(".job-retry").hidden = true;
    this.$(".job-actions").hidden = true;
    this.$(".segments").hidden = true;
    this.$(".segments").replaceChildren();
    this.$(".live-text").hidden = true;
    this.$(".live-text").textContent = "";
    const progress = this.$(".job-progress");
    progress.hidden = false;
    progress.value = 0;
    this.$(".job-cancel").textContent = "Cancel";
    this.$(".job-cancel").setAttribute("aria-label", `Cancel ${this.name}`);
  }

  #state(text) {
    this.$(".job-state").textContent = text;
  }

  #appendLive(delta) {
    const live = this.$(".live-text");
    live.hidden = false;
    live.textContent += delta;
  }

  #setLive(text) {
    const live = this.$(".live-text");
    live.hidden = !text;
    live.textContent = text;
  }

  #fail(error) {
    const message = describe(error, { name: this.name, size: this.file.size, hasKey: this.hasKey() });
    this.el.dataset.state = "failed";
    this.#state("Failed");
    this.$(".error-title").textContent = message.title;
    this.$(".error-detail").textContent = message.detail;
    this.$(".error-server").textContent = message.server;
    this.$(".job-retry").hidden = !message.retry;
    this.$(".job-error").hidden = false;
    if (message.askKey) {
      this.needsKey = true;
      this.onAskKey(message.title);
    }
    if (error?.status === undefined) console.error(error); // a bug in the page, not an answer from the server
  }

  /** Segments with their start times as buttons: a click (or Enter) plays the audio from there. */
  #show(result) {
    const list = this.$(".segments");
    const words = [...(result.words ?? [])];
    const segments = (result.segments ?? []).filter((s) => s.text.trim());
    segments.forEach((segment, index) => {
      const item = document.createElement("li");
      item.className = "segment";
      item.dataset.start = segment.start;
      item.dataset.end = segment.end;
      const time = document.createElement("button");
      time.type = "button";
      time.className = "time";
      time.textContent = clock(segment.start);
      time.setAttribute("aria-label", `Play from ${clock(segment.start)}`);
      time.addEventListener("click", () => this.play(segment.start));
      const text = document.createElement("span");
      text.className = "text";
      const last = index === segments.length - 1;
      const own = [];
      while (words.length && (last || words[0].start < segment.end)) own.push(words.shift());
      if (own.length) {
        own.forEach((word, i) => {
          const span = document.createElement("span");
          span.className = "word";
          span.textContent = word.word;
          span.title = `${clock(word.start)} (${word.start.toFixed(2)}–${word.end.toFixed(2)} s)`;
          span.dataset.start = word.start;
          span.dataset.end = word.end;
          span.addEventListener("click", () => this.play(word.start));
          text.append(span, i < own.length - 1 ? " " : "");
        });
      } else {
        text.textContent = segment.text.trim();
      }
      item.append(time, " ", text);
      list.append(item);
    });
    list.hidden = segments.length === 0;
    this.#setLive(segments.length ? "" : result.text || "(no speech found)");
    this.#showActions(true);
  }

  #showActions(timed) {
    this.$(".job-actions").hidden = false;
    for (const kind of ["srt", "vtt", "json"]) this.$(`[data-download="${kind}"]`).hidden = !timed;
  }

  play(seconds) {
    this.audio.currentTime = seconds;
    this.audio.play().catch(() => {}); // no audio output, or the browser refused: the position still moved
  }

  #follow(time) {
    for (const el of this.el.querySelectorAll(".segment, .word")) {
      const on = Number(el.dataset.start) <= time && time < Number(el.dataset.end);
      el.classList.toggle("playing", on);
      if (el.classList.contains("segment")) {
        if (on) el.setAttribute("aria-current", "true");
        else el.removeAttribute("aria-current");
      }
    }
  }

  download(kind) {
    if (!this.result) return;
    const { render, type } = DOWNLOADS[kind];
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([render(this.result)], { type }));
    link.download = `${this.base}.${kind}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  }

  async #copy() {
    const text = this.result?.text ?? "";
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // the Clipboard API needs a secure page; the old way works on plain http too
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.append(area);
      area.select();
      const copied = document.execCommand("copy");
      area.remove();
      if (!copied) {
        this.#flash("Copy failed: select the text and copy it by hand.");
        return;
      }
    }
    this.#flash("Copied to the clipboard");
  }

  /** A passing message in the status line, which then shows the job's outcome again. */
  #flash(text) {
    if (!this.flashTimer) this.outcome = this.$(".job-state").textContent;
    clearTimeout(this.flashTimer);
    this.#state(text);
    this.flashTimer = setTimeout(() => {
      this.flashTimer = 0;
      this.#state(this.outcome);
    }, 3000);
  }
}

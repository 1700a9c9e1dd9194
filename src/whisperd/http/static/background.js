// Long files go to the server as jobs: submitted once, followed through the job's events, fetched at the end.
//
// One request that lasts as long as an hour of audio takes to transcribe is the wrong shape: a proxy or
// the browser gives up, a reload loses it. A job is kept by the server instead. The page follows the
// job's events for its progress bar, finds its jobs again after a reload (GET /v1/audio/jobs with the
// page's key, keeping those it marked with metadata source=web), and fetches the result as verbose_json
// when the job ends, for the same display and downloads as any other transcript.

import { ApiError } from "./api.js";

/** Files longer than this go as jobs whatever the option says. */
export const LONG_SECONDS = 600;
/** So do files larger than the synchronous endpoint takes (25 MiB, OpenAI's limit), with some margin. */
export const LARGE_BYTES = 24 * 1024 * 1024;
export const SOURCE = "web";
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Whether `file` should go as a job: larger than an upload may be, or longer than ten minutes. */
export async function isLong(file, audio) {
  if (file.size > LARGE_BYTES) return true;
  const seconds = await durationOf(audio);
  return Number.isFinite(seconds) && seconds > LONG_SECONDS;
}

function durationOf(audio) {
  if (audio.readyState >= 1) return Promise.resolve(audio.duration);
  return new Promise((resolve) => {
    audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
    audio.addEventListener("error", () => resolve(Number.NaN), { once: true });
    setTimeout(() => resolve(Number.NaN), 3000); // a format the browser cannot play: the server decides
  });
}

/** 32 random hex digits (crypto.randomUUID needs a secure page; this works on plain http on a LAN). */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The job's form fields: the card's options, verbose_json for the timestamps, and the page's mark. */
export function jobFields({ model, language, task, words }, name) {
  const fields = [
    ["model", model],
    ["task", task],
    ["response_format", "verbose_json"],
  ];
  if (task === "transcribe" && language) fields.push(["language", language]);
  if (words) fields.push(["timestamp_granularities[]", "word"]);
  fields.push(["metadata", JSON.stringify({ source: SOURCE, name: name.slice(0, 500) })]);
  return fields;
}

/** The options a job was submitted with, as the page's options (for a job found again after a reload). */
export function optionsOf(job) {
  return { model: job.model, language: job.language ?? "", task: job.task, words: false, live: false, background: true };
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new DOMException("The request was cancelled.", "AbortError"));
      },
      { once: true },
    );
  });
}

function fatal(error) {
  return error?.name === "AbortError" || (error instanceof ApiError && [401, 404].includes(error.status));
}

/**
 * Follow job `id` until it ends: its events while the stream lasts; when the stream drops (a server
 * restart, a proxy that closes quiet connections), its state by GET and its events again after a
 * growing pause. Calls `onJob(job)` at each change; resolves to the job once it has ended.
 */
export async function follow(api, id, { signal, onJob }) {
  let job = null;
  for (let attempt = 0; ; attempt++) {
    try {
      await api.events(`/v1/audio/jobs/${id}/events`, {
        signal,
        onEvent: (event) => {
          if (!event.job) return;
          job = event.job;
          onJob(job);
        },
      });
    } catch (error) {
      if (fatal(error)) throw error;
    }
    if (job && FINISHED.has(job.status)) return job;
    await pause(Math.min(10_000, 1000 * 2 ** Math.min(attempt, 4)), signal);
    try {
      job = (await api.get(`/v1/audio/jobs/${id}`, { signal })).body;
      onJob(job);
      if (FINISHED.has(job.status)) return job;
    } catch (error) {
      if (fatal(error)) throw error;
    }
  }
}

/** A failed job's error, as the page shows every other error. */
export function jobError(job) {
  const error = job.error ?? {};
  return new ApiError("job", error.message ?? `The job was ${job.status}.`, error);
}

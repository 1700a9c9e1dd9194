// The page: server status, options, the API key, files and recordings in, one job at a time.
//
// Jobs run one after another rather than all at once: a home server has one or two worker slots, and
// a dropped folder of files would otherwise fill its queue and come back as 429s. Long files go to the
// server as jobs (background.js), and the page finds its jobs again after a reload.

import { Api, ApiError } from "./api.js";
import { SOURCE } from "./background.js";
import { Job } from "./job.js";
import { LiveSession } from "./live.js";
import { Recorder, unavailableReason } from "./recorder.js";
import { clock } from "./subtitles.js";

const $ = (id) => document.getElementById(id);
const KEY = "whisperd.apiKey";
const OPTIONS = "whisperd.options";

/** localStorage, which a locked-down browser may refuse: the page then forgets on reload, nothing worse. */
const storage = {
  get(name) {
    try {
      return localStorage.getItem(name);
    } catch {
      return null;
    }
  },
  set(name, value) {
    try {
      if (value === null) localStorage.removeItem(name);
      else localStorage.setItem(name, value);
    } catch {
      // kept for this page only
    }
  },
};

const apiKey = () => storage.get(KEY) ?? "";
const api = new Api(apiKey);
const jobs = [];
const queue = [];
let pumping = false;

// --- server status -------------------------------------------------------------------------------

async function pollHealth() {
  const status = $("server-status");
  let next = 15_000;
  try {
    const { status: code, body } = await api.get("/health");
    if (code === 200) {
      status.dataset.state = "ok";
      const device = body.compute_type ? `${body.device} (${body.compute_type})` : body.device;
      status.textContent = `Ready: ${body.model} on ${device}, up ${uptime(body.uptime_seconds)}`;
    } else {
      status.dataset.state = body.status === "error" ? "error" : "loading";
      status.textContent =
        body.status === "error"
          ? `The model ${body.model} failed to load; see the server log.`
          : `Loading ${body.model}…`;
      next = 2_000;
    }
  } catch {
    status.dataset.state = "error";
    status.textContent = "Cannot reach the server.";
    next = 5_000;
  }
  setTimeout(pollHealth, next);
}

function uptime(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
  return `${Math.floor(seconds / 86_400)} d ${Math.floor((seconds % 86_400) / 3600)} h`;
}

// --- options --------------------------------------------------------------------------------------

const form = $("options");

function readOptions() {
  return {
    model: form.model.value,
    language: form.language.value,
    task: form.task.value,
    words: form.words.checked,
    live: form.live.checked,
    background: form.background.checked,
  };
}

function saved() {
  try {
    return JSON.parse(storage.get(OPTIONS) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function applyOptions() {
  const options = saved();
  if (typeof options.language === "string") form.language.value = options.language;
  if (options.task === "translate" || options.task === "transcribe") form.task.value = options.task;
  if (typeof options.words === "boolean") form.words.checked = options.words;
  if (typeof options.live === "boolean") form.live.checked = options.live;
  if (typeof options.background === "boolean") form.background.checked = options.background;
  form.language.disabled = form.task.value === "translate";
}

form.addEventListener("change", () => {
  form.language.disabled = form.task.value === "translate"; // a translation is always into English
  storage.set(OPTIONS, JSON.stringify(readOptions()));
});
form.addEventListener("submit", (event) => event.preventDefault());

async function loadLanguages() {
  const response = await fetch("/static/languages.json");
  const names = await response.json();
  let display = null;
  try {
    display = new Intl.DisplayNames([navigator.language, "en"], { type: "language" });
  } catch {
    // old browser: Whisper's English names
  }
  const label = (code, name) => {
    const shown = display?.of(code);
    return shown && shown !== code ? shown : name.replace(/\b\w/g, (c) => c.toUpperCase());
  };
  const options = Object.entries(names)
    .map(([code, name]) => [code, label(code, name)])
    .sort((a, b) => a[1].localeCompare(b[1]));
  for (const [code, name] of options) form.language.add(new Option(`${name} (${code})`, code));
}

async function loadModels() {
  try {
    const { body } = await api.get("/v1/models");
    restoreJobs();
    const wanted = saved().model ?? form.model.value;
    form.model.replaceChildren(...body.data.map((m) => new Option(m.id, m.id)));
    const ids = body.data.map((m) => m.id);
    form.model.value = ids.includes(wanted) ? wanted : ids.includes("whisper-1") ? "whisper-1" : ids[0];
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      askKey(apiKey() ? "The stored API key was refused." : "This server asks for an API key.");
    }
    // otherwise keep "whisper-1": every server answers to it; the status line shows what is wrong
  }
}

// --- API key -------------------------------------------------------------------------------------

const dialog = $("key-dialog");

function askKey(reason) {
  $("key-button").hidden = false;
  $("key-reason").textContent = reason;
  $("key-input").value = apiKey();
  if (!dialog.open) dialog.showModal();
}

$("key-button").addEventListener("click", () => askKey("The key this page sends to the server."));
$("key-cancel").addEventListener("click", () => dialog.close());
$("key-forget").addEventListener("click", () => {
  storage.set(KEY, null);
  $("key-input").value = "";
  dialog.close();
});
$("key-form").addEventListener("submit", () => {
  storage.set(KEY, $("key-input").value.trim());
  loadModels();
  for (const job of jobs) if (job.needsKey) enqueue(job); // what the missing key stopped, now goes
});
if (apiKey()) $("key-button").hidden = false;

// --- jobs ----------------------------------------------------------------------------------------

const init = () => ({ api, hasKey: () => Boolean(apiKey()), onRetry: enqueue, onAskKey: askKey });

/** The page's recent jobs on the server (this key's, marked source=web) that it does not show yet:
 * after a reload they come back, still moving or finished, with the same downloads. */
async function restoreJobs() {
  let listed;
  try {
    listed = (await api.get("/v1/audio/jobs?limit=20")).body.data;
  } catch {
    return; // jobs are off on this server, or the key is wrong: nothing to find
  }
  const found = listed
    .filter((job) => job.metadata?.source === SOURCE && !jobs.some((card) => card.serverJob === job.id))
    .reverse(); // oldest first, so that the newest ends on top
  for (const job of found) {
    const card = Job.restore(job, init());
    $("empty").hidden = true;
    $("jobs").prepend(card.el);
    jobs.push(card);
    card.track();
  }
}

function enqueue(job) {
  if (!queue.includes(job)) queue.push(job);
  pump();
}

async function pump() {
  if (pumping) return;
  pumping = true;
  while (queue.length) await queue.shift().run();
  pumping = false;
}

function add(files) {
  const options = readOptions();
  const batch = [...files].map(([file, name]) => new Job({ file, name, options, ...init() }));
  $("empty").hidden = true;
  $("jobs").prepend(...batch.map((job) => job.el)); // newest first, a batch in the order given
  jobs.push(...batch);
  batch.forEach(enqueue);
}

const fileInput = $("file-input");
fileInput.addEventListener("change", () => {
  add([...fileInput.files].map((f) => [f, f.name]));
  fileInput.value = ""; // the same file may be picked again
});

// A file dropped anywhere is taken (a missed drop would otherwise make the browser open the file).
const zone = $("drop-zone");
document.addEventListener("dragover", (event) => {
  if (![...event.dataTransfer.types].includes("Files")) return;
  event.preventDefault();
  zone.classList.add("over");
});
document.addEventListener("dragleave", (event) => {
  if (event.relatedTarget === null) zone.classList.remove("over");
});
document.addEventListener("drop", (event) => {
  if (!event.dataTransfer.files.length) return;
  event.preventDefault();
  zone.classList.remove("over");
  add([...event.dataTransfer.files].map((f) => [f, f.name]));
});

// --- recording -----------------------------------------------------------------------------------

const recordButton = $("record-button");
const recorder = new Recorder();
let recordTimer = 0;

function note(text) {
  $("record-note").textContent = text;
  $("record-note").hidden = !text;
}

function recordingUi(on) {
  recordButton.setAttribute("aria-pressed", String(on));
  recordButton.classList.toggle("on", on);
  recordButton.querySelector(".label").textContent = on ? "Stop" : "Record";
  $("recording").hidden = !on;
}

recordButton.addEventListener("click", async () => {
  if (recorder.recording) {
    clearInterval(recordTimer);
    recordingUi(false);
    const { blob, extension } = await recorder.stop();
    add([[blob, `recording-${stamp(new Date())}.${extension}`]]);
    return;
  }
  const reason = unavailableReason();
  if (reason) {
    note(reason);
    return;
  }
  note("");
  try {
    await recorder.start((level) => ($("record-level").style.width = `${Math.round(level * 100)}%`));
  } catch (error) {
    recorder.cancel();
    const reasons = {
      NotAllowedError: "The microphone was not allowed. Allow it for this page in the browser's site settings.",
      NotFoundError: "No microphone was found.",
      NotReadableError: "The microphone is in use by another program, or the system refused it.",
    };
    note(reasons[error.name] ?? `Recording could not start: ${error.message}`);
    return;
  }
  $("record-time").textContent = "0:00";
  recordTimer = setInterval(() => {
    $("record-time").textContent = clock((performance.now() - recorder.started) / 1000);
  }, 250);
  recordingUi(true);
});

/** 2024-05-01-183012, in local time: file names that sort and that a person recognizes. */
function stamp(date) {
  const two = (n) => String(n).padStart(2, "0");
  const day = `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}`;
  return `${day}-${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

window.addEventListener("pagehide", () => {
  recorder.cancel();
  live?.stop();
});

// --- live ----------------------------------------------------------------------------------------

const liveButton = $("live-button");
let live = null;
let turns = 0;

function liveUi(on) {
  liveButton.setAttribute("aria-pressed", String(on));
  liveButton.classList.toggle("on", on);
  liveButton.querySelector(".label").textContent = on ? "Stop live" : "Live";
  $("live-panel").hidden = !on;
  if (on) $("live-words").textContent = "";
}

/** A client secret for the socket when the page holds a key, so that the key itself never goes on it. */
async function clientSecret() {
  if (!apiKey()) return null;
  const { body } = await api.post("/v1/realtime/client_secrets", {});
  return body.value;
}

function addTurn({ transcript, seconds, audio }) {
  turns += 1;
  const name = `live-${stamp(new Date())}-${turns}.wav`;
  const job = new Job({ file: audio, name, options: readOptions(), ...init() });
  const segment = { id: 0, start: 0, end: seconds, text: transcript };
  job.complete(
    { task: "transcribe", duration: seconds, text: transcript, segments: transcript ? [segment] : [] },
    `${clock(seconds)} of live audio`,
  );
  $("empty").hidden = true;
  $("jobs").prepend(job.el);
  jobs.push(job);
  $("live-words").textContent = "";
}

liveButton.addEventListener("click", async () => {
  if (live) {
    const session = live;
    live = null;
    liveUi(false);
    await session.stop();
    return;
  }
  const reason = unavailableReason();
  if (reason) {
    note(reason);
    return;
  }
  note("");
  const options = readOptions();
  const session = new LiveSession({
    onDelta: (_, delta) => ($("live-words").textContent += delta),
    onTurn: addTurn,
    onError: (message) => note(`Live: ${message}`),
    onClose: () => {
      if (live === session) {
        live = null;
        liveUi(false);
      }
    },
  });
  live = session;
  liveUi(true);
  try {
    await session.start({ model: options.model, language: options.language, secret: await clientSecret() });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) askKey("This server asks for an API key.");
    note(`Live could not start: ${error.message}`);
    live = null;
    liveUi(false);
    session.stop();
  }
});

// --- start ---------------------------------------------------------------------------------------

applyOptions();
pollHealth();
loadLanguages()
  .then(applyOptions)
  .catch(() => {}); // the list is a convenience: "Detect automatically" always works
loadModels();
document.documentElement.dataset.ready = "true"; // for the browser tests: the handlers are in place

// What to tell a person when a request fails: a plain title, what to do, and the server's own words.
//
// Every failure ends up here, so none is silent: the server's message (and its HTTP status) is always
// shown under the explanation, because it is what an operator will search the logs or the docs for.

/** Sizes as people read them on a disk or a phone: 1.2 MB, 100 kB (powers of 1000). */
export function formatBytes(bytes) {
  if (bytes < 1000) return `${bytes} bytes`;
  const units = ["kB", "MB", "GB"];
  let value = bytes;
  let unit = "";
  for (const next of units) {
    value /= 1000;
    unit = next;
    if (value < 1000) break;
  }
  return `${value >= 10 ? Math.round(value) : value.toFixed(1)} ${unit}`;
}

/**
 * @param {Error} error an ApiError, or anything else that went wrong
 * @param {{name: string, size: number, hasKey: boolean}} file what was being sent
 * @returns {{title: string, detail: string, server: string, retry: boolean, askKey: boolean}}
 */
export function describe(error, { name, size, hasKey }) {
  const status = error?.status;
  const server = status === undefined ? String(error?.message ?? error) : `Server said (HTTP ${status === "stream" ? 200 : status}): ${error.message}`;
  const base = { server, retry: false, askKey: false };
  switch (status) {
    case 0:
      return { ...base, server: error.message, retry: true, title: "Cannot reach the server.", detail: "Check that whisperd is still running, then try again." };
    case 400:
      if (error.param && error.param !== "file") {
        return { ...base, title: `The server refused the options for “${name}”.`, detail: "Change the model, language or task and try again." };
      }
      return { ...base, title: `The server could not transcribe “${name}”.`, detail: "The file may be damaged, empty, too long, or not an audio or video format it reads." };
    case 401:
      return {
        ...base,
        retry: true,
        askKey: true,
        title: hasKey ? "The API key was refused." : "This server needs an API key.",
        detail: "Enter the key with the “API key” button; it is kept in this browser only.",
      };
    case 404:
      return { ...base, title: "That model is not available on this server.", detail: "Pick another model in the options." };
    case 413: {
      const limit = /\((\d+) bytes\)/.exec(error.message)?.[1];
      const most = limit ? `at most ${formatBytes(Number(limit))}` : "less";
      return {
        ...base,
        title: `“${name}” is too large for this server.`,
        detail: `The file is ${formatBytes(size)} and the server accepts ${most}. Split or compress it (a voice note in Opus is small), or raise WHISPERD_MAX_UPLOAD_BYTES on the server.`,
      };
    }
    case 429: {
      const wait = error.retryAfter ? ` in ${error.retryAfter} s` : " in a moment";
      return { ...base, retry: true, title: "The server is busy.", detail: `Too many transcriptions are waiting. Try again${wait}.` };
    }
    case 503:
      return { ...base, retry: true, title: "The model is not ready yet.", detail: "The server is still loading it (or failed to); try again in a few seconds." };
    case "job":
      return { ...base, server: `Server said: ${error.message}`, retry: true, title: `The server could not transcribe “${name}”.`, detail: "The job failed; the message below says why." };
    case "stream":
      return { ...base, retry: true, title: `Transcribing “${name}” failed part-way.`, detail: "Any text received so far is kept above." };
    default:
      if (typeof status === "number" && status >= 500) {
        return { ...base, retry: true, title: "The server failed on this request.", detail: "Its log has the details; try again, or try a shorter file." };
      }
      return { ...base, retry: true, title: "Something went wrong.", detail: "" };
  }
}

// The page's only way to the server: the same /v1 API that scripts use, with the browser's API key.
//
// Transcriptions go through XMLHttpRequest rather than fetch because fetch cannot report upload
// progress, and a long recording on a slow network must show that it is moving. The same request reads
// Server-Sent Events as they arrive when stream=true.

import { SseParser } from "./sse.js";

/** An answer that is not a success, in the server's own terms (OpenAI's error body). */
export class ApiError extends Error {
  /**
   * @param {number|"stream"} status HTTP status, 0 when the server could not be reached, "stream" for
   *   an error event inside a stream that had started well
   */
  constructor(status, message, { type = null, code = null, param = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
    this.retryAfter = retryAfter;
  }
}

function errorFrom(status, text, retryAfter) {
  let detail = null;
  try {
    detail = JSON.parse(text).error;
  } catch {
    // not the OpenAI error shape: a proxy page, say; show the start of it
  }
  const message = detail?.message ?? (text.trim().slice(0, 300) || `HTTP ${status}`);
  const seconds = Number.parseInt(retryAfter ?? "", 10);
  return new ApiError(status, message, {
    type: detail?.type ?? null,
    code: detail?.code ?? null,
    param: detail?.param ?? null,
    retryAfter: Number.isFinite(seconds) ? seconds : null,
  });
}

export class Api {
  /** @param {() => string} key the current API key, "" when none */
  constructor(key) {
    this.key = key;
  }

  #authorize(headers) {
    const key = this.key();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  /** One GET with the key, not cached; a network failure is an ApiError with status 0. */
  async #fetchGet(path, signal) {
    try {
      return await fetch(path, { headers: this.#authorize({}), cache: "no-store", signal });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, `Cannot reach ${location.origin}`);
    }
  }

  /** GET a JSON document; resolves to {status, body} for 2xx and 503 (health while loading). */
  async get(path, { signal } = {}) {
    const response = await this.#fetchGet(path, signal);
    const text = await response.text();
    if (!response.ok && response.status !== 503) {
      throw errorFrom(response.status, text, response.headers.get("Retry-After"));
    }
    return { status: response.status, body: JSON.parse(text) };
  }

  /** POST a JSON document; resolves to {status, body} for 2xx. */
  async post(path, document) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: this.#authorize({ "Content-Type": "application/json" }),
        body: JSON.stringify(document),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, `Cannot reach ${location.origin}`);
    }
    const text = await response.text();
    if (!response.ok) throw errorFrom(response.status, text, response.headers.get("Retry-After"));
    return { status: response.status, body: JSON.parse(text) };
  }

  /** DELETE a resource; resolves to the parsed body. */
  async delete(path) {
    let response;
    try {
      response = await fetch(path, { method: "DELETE", headers: this.#authorize({}), cache: "no-store" });
    } catch {
      throw new ApiError(0, `Cannot reach ${location.origin}`);
    }
    const text = await response.text();
    if (!response.ok) throw errorFrom(response.status, text, response.headers.get("Retry-After"));
    return JSON.parse(text);
  }

  /**
   * GET a Server-Sent Events stream (fetch, so that the key goes in a header, which EventSource cannot
   * do); calls `onEvent(payload)` per event and resolves when the server ends the stream.
   */
  async events(path, { signal, onEvent }) {
    const response = await this.#fetchGet(path, signal);
    if (!response.ok) {
      throw errorFrom(response.status, await response.text(), response.headers.get("Retry-After"));
    }
    const parser = new SseParser();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.push(value)) onEvent(event);
    }
  }

  /**
   * POST one file to /v1/audio/jobs; resolves to the job object (202). `key` is the Idempotency-Key, so
   * that a submit sent twice (a retry) makes one job.
   */
  submitJob({ file, filename, fields, key, signal, onUpload }) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/audio/jobs");
      for (const [name, value] of Object.entries(this.#authorize({ "Idempotency-Key": key }))) {
        xhr.setRequestHeader(name, value);
      }
      const form = new FormData();
      form.append("file", file, filename);
      for (const [name, value] of fields) form.append(name, value);
      xhr.upload.onprogress = (e) => e.lengthComputable && onUpload?.(e.loaded / e.total);
      xhr.onload = () => {
        if (xhr.status !== 202) {
          reject(errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
          return;
        }
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, "The server's answer was not valid JSON."));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, `Cannot reach ${location.origin}`));
      xhr.onabort = () => reject(new DOMException("The request was cancelled.", "AbortError"));
      if (signal?.aborted) {
        reject(new DOMException("The request was cancelled.", "AbortError"));
        return;
      }
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(form);
    });
  }

  /**
   * POST one file to /v1/audio/{transcriptions|translations}.
   *
   * Without `stream`, resolves to the parsed body (verbose_json). With `stream: true`, calls
   * `onDelta(text)` per segment and resolves to the final text; an error event rejects.
   * `onStart()` runs when the server starts answering 200: the job has a slot and the audio decoded.
   */
  transcribe({ endpoint, file, filename, fields, signal, onUpload, onStart, onDelta }) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `/v1/audio/${endpoint}`);
      for (const [name, value] of Object.entries(this.#authorize({}))) xhr.setRequestHeader(name, value);
      const form = new FormData();
      form.append("file", file, filename);
      for (const [name, value] of fields) form.append(name, value);

      const parser = new SseParser();
      let read = 0;
      let streaming = false;
      let settled = false;
      const finish = (fn, value) => {
        if (!settled) {
          settled = true;
          fn(value);
        }
      };
      const drain = () => {
        if (!streaming) return;
        const chunk = xhr.responseText.slice(read);
        read = xhr.responseText.length;
        for (const event of parser.push(chunk)) {
          if (event.type === "transcript.text.delta") onDelta?.(event.delta ?? "");
          else if (event.type === "transcript.text.done") finish(resolve, event.text ?? "");
          else if (event.type === "error") {
            const e = event.error ?? {};
            finish(reject, new ApiError("stream", e.message ?? "The transcription failed.", e));
            xhr.abort();
          }
        }
      };

      xhr.upload.onprogress = (e) => e.lengthComputable && onUpload?.(e.loaded / e.total);
      xhr.upload.onload = () => onUpload?.(1);
      xhr.onreadystatechange = () => {
        if (xhr.readyState !== XMLHttpRequest.HEADERS_RECEIVED) return;
        onUpload?.(1);
        streaming = xhr.status === 200 && (xhr.getResponseHeader("Content-Type") ?? "").startsWith("text/event-stream");
        if (xhr.status === 200) onStart?.();
      };
      xhr.onprogress = drain;
      xhr.onload = () => {
        if (xhr.status !== 200) {
          finish(reject, errorFrom(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
        } else if (streaming) {
          drain();
          finish(reject, new ApiError("stream", "The stream ended before the transcript was complete."));
        } else {
          try {
            finish(resolve, JSON.parse(xhr.responseText));
          } catch {
            finish(reject, new ApiError(xhr.status, "The server's answer was not valid JSON."));
          }
        }
      };
      xhr.onerror = () => finish(reject, new ApiError(0, `Cannot reach ${location.origin}`));
      xhr.onabort = () => finish(reject, new DOMException("The request was cancelled.", "AbortError"));
      if (signal?.aborted) {
        finish(reject, new DOMException("The request was cancelled.", "AbortError"));
        return;
      }
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(form);
    });
  }
}

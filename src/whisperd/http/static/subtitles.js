// The downloads, written from one verbose_json answer (text, segments, words) in the browser.
//
// They follow whisperd's own writers (src/whisperd/media/formats.py) cue for cue, so a file downloaded here
// has the cues `response_format=srt` or `vtt` would have returned, without transcribing the audio again
// (tests/web/test_page.py compares a download with the server's own srt for the same upload).

/** "00:01:02,345" (SRT) or "00:01:02.345" (VTT). */
export function timestamp(seconds, separator) {
  let millis = Math.max(0, Math.round(seconds * 1000));
  const hours = Math.floor(millis / 3_600_000);
  millis -= hours * 3_600_000;
  const minutes = Math.floor(millis / 60_000);
  millis -= minutes * 60_000;
  const secs = Math.floor(millis / 1000);
  millis -= secs * 1000;
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${pad(hours)}:${pad(minutes)}:${pad(secs)}${separator}${pad(millis, 3)}`;
}

/** "1:02" or "1:02:03", for people rather than subtitle players. */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Non-empty segments as one-line cues; a cue may not contain a blank line or an arrow. */
function cues(segments) {
  const out = [];
  for (const segment of segments) {
    const line = segment.text.split(/\s+/).filter(Boolean).join(" ");
    if (line) out.push([segment.start, Math.max(segment.end, segment.start), line.replaceAll("-->", "->")]);
  }
  return out;
}

export function toText(result) {
  return result.text ? `${result.text}\n` : "";
}

export function toSrt(result) {
  return cues(result.segments)
    .map(([start, end, line], i) => `${i + 1}\n${timestamp(start, ",")} --> ${timestamp(end, ",")}\n${line}\n`)
    .join("\n");
}

export function toVtt(result) {
  const blocks = cues(result.segments).map(
    ([start, end, line]) => `${timestamp(start, ".")} --> ${timestamp(end, ".")}\n${line}\n`,
  );
  return `WEBVTT\n\n${blocks.join("\n")}`;
}

export function toJson(result) {
  return `${JSON.stringify(result, null, 2)}\n`;
}

export const DOWNLOADS = {
  txt: { render: toText, type: "text/plain;charset=utf-8" },
  srt: { render: toSrt, type: "application/x-subrip;charset=utf-8" },
  vtt: { render: toVtt, type: "text/vtt;charset=utf-8" },
  json: { render: toJson, type: "application/json;charset=utf-8" },
};

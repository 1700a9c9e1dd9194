// Server-Sent Events parsing for a response that arrives in arbitrary chunks.
//
// EventSource cannot POST a file, so the page reads the stream itself; chunks may end anywhere, even in
// the middle of a line, and only a blank line ends an event (WHATWG "event stream" rules).

export class SseParser {
  #buffer = "";
  #data = [];

  /** Feed a chunk of text; returns the JSON payloads of the events it completed. */
  push(chunk) {
    this.#buffer += chunk;
    const events = [];
    let newline;
    while ((newline = this.#buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.#buffer.slice(0, newline);
      const width = this.#buffer.startsWith("\r\n", newline) ? 2 : 1;
      if (this.#buffer.length === newline + 1 && this.#buffer[newline] === "\r") break; // "\r" of a "\r\n"?
      this.#buffer = this.#buffer.slice(newline + width);
      if (line === "") {
        const data = this.#data.join("\n");
        if (this.#data.length && data !== "[DONE]") events.push(this.#payload(data));
        this.#data = [];
      } else if (line.startsWith("data:")) {
        this.#data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
      // comments (":") and other fields (event:, id:, retry:) carry nothing the page uses
    }
    return events;
  }

  #payload(data) {
    try {
      return JSON.parse(data);
    } catch {
      return { type: "error", error: { message: `The server sent an unreadable event: ${data.slice(0, 200)}` } };
    }
  }
}

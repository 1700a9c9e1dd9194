#!/bin/sh
# transcribe.sh FILE: print the transcript of one audio file, using a whisperd server (or any server
# that speaks the OpenAI Audio API). POSIX sh and curl only.
#
# It asks for response_format=text, so the body *is* the transcript: nothing is parsed, and quotes,
# backslashes and newlines in the text come through unchanged.
#
# Environment:
#   WHISPER_API_URL           endpoint (default http://localhost:5000/v1/audio/transcriptions)
#   WHISPER_API_KEY           sent as "Authorization: Bearer KEY" when set (fed to curl on stdin, so it
#                             never shows in the process list)
#   WHISPER_MODEL             model to ask for (default whisper-1)
#   TRANSCRIBE_RETRY_SECONDS  how long to keep retrying while the server is down, restarting, loading its
#                             model or busy (default 30; 0 = try once)
#   TRANSCRIBE_DELETE_INPUT   1 = delete FILE after a successful transcription (default: keep it)
#
# Exit status: 0 transcript printed; 1 the server refused or could not be reached (message on stderr);
# 2 usage error or unreadable file.

set -u

me=transcribe.sh
url=${WHISPER_API_URL:-http://localhost:5000/v1/audio/transcriptions}
model=${WHISPER_MODEL:-whisper-1}
retry=${TRANSCRIBE_RETRY_SECONDS:-30}

fail() {
    printf '%s: %s\n' "$me" "$1" >&2
    exit "${2:-1}"
}

[ "$#" -eq 1 ] || fail "usage: $me FILE (prints the transcript of the audio FILE)" 2
file=$1
[ -f "$file" ] && [ -r "$file" ] || fail "cannot read '$file': no such readable file" 2
command -v curl >/dev/null 2>&1 || fail "curl is required but was not found on PATH" 2
case $retry in
    '' | *[!0-9]*) fail "TRANSCRIBE_RETRY_SECONDS must be a whole number of seconds, not '$retry'" 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/transcribe.XXXXXX") || fail "cannot create a temporary folder"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' HUP INT TERM

# In curl's -F, a file name with ';' or ',' must be double-quoted, and '\' and '"' escaped inside.
quoted=$(printf '%s\n' "$file" | sed 's/[\\"]/\\&/g')

post() {
    # -q: ignore ~/.curlrc, whose options (--fail, --output ...) would change what we print.
    # Expect: (empty) skips curl's 1-second wait for "100 Continue" before larger uploads.
    set -- -q --silent --show-error --connect-timeout 10 -H 'Expect:' \
        -o "$work/body" -w '%{http_code}' \
        -F "file=@\"$quoted\"" --form-string "model=$model" --form-string "response_format=text" "$url"
    if [ -n "${WHISPER_API_KEY:-}" ]; then
        key=$(printf '%s\n' "$WHISPER_API_KEY" | sed 's/[\\"]/\\&/g')
        printf 'header = "Authorization: Bearer %s"\n' "$key" | curl -K - "$@"
    else
        curl "$@"
    fi
}

waited=0
while :; do
    : >"$work/body"
    code=$(post 2>"$work/curl-error")
    status=$?
    case $status:$code in
        # 7 cannot connect, 52 empty reply, 55/56 connection broken: the server is (re)starting.
        # 429 busy, 502/503/504 loading the model or a proxy waiting for it: worth another try.
        7:* | 52:* | 55:* | 56:* | 0:429 | 0:502 | 0:503 | 0:504) transient=1 ;;
        *) transient=0 ;;
    esac
    [ "$transient" -eq 1 ] && [ "$waited" -lt "$retry" ] || break
    sleep 1
    waited=$((waited + 1))
done

if [ "$status" -ne 0 ]; then
    printf '%s: cannot reach %s' "$me" "$url" >&2
    [ "$waited" -gt 0 ] && printf ' (retried for %ss)' "$waited" >&2
    printf ': %s\n' "$(cat "$work/curl-error")" >&2
    [ "$status" -eq 7 ] && printf '%s: is the server running? Check WHISPER_API_URL.\n' "$me" >&2
    exit 1
fi
case $code in
    2??) ;;
    401) fail "the server answered HTTP 401 (set WHISPER_API_KEY to a key it accepts): $(cat "$work/body")" ;;
    *) fail "the server answered HTTP $code: $(cat "$work/body")" ;;
esac

cat "$work/body" || fail "cannot write the transcript"
if [ "${TRANSCRIBE_DELETE_INPUT:-0}" = 1 ]; then
    rm -f -- "$file" || printf '%s: warning: could not delete %s\n' "$me" "$file" >&2
fi
exit 0

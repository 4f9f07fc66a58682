"""Hand-written prose for the man pages: examples, environment, files (pure data).

Options are never listed here — they come from the click definitions. Examples name real
options: the generator drops (and warns about) an example whose options a command lacks,
and a test fails on it, so an option rename cannot leave a false example behind.
"""

from __future__ import annotations

from wscli.docgen.model import Example, Variable
from wscli.net.statefiles import KEEP_URLS

MANUAL_TITLE = "wscli manual"

# Pinned so the pages are reproducible; bump it when the pages change in substance.
MANUAL_DATE = "2026-11-25"

HISTORY_FILE = "$XDG_STATE_HOME/wscli/history"
URLS_FILE = "$XDG_STATE_HOME/wscli/urls"

EXAMPLES: dict[str, tuple[Example, ...]] = {
    "wscli": (
        Example(
            "wscli serve",
            "Start the broadcast chat server on 127.0.0.1:3000; open http://127.0.0.1:3000/.",
        ),
        Example(
            "echo hello | wscli connect ws://127.0.0.1:3000/chat",
            "Send one message from a pipe and print what comes back.",
        ),
        Example(
            "wscli handshake ws://127.0.0.1:3000/chat",
            "Show the raw opening handshake and check Sec-WebSocket-Accept.",
        ),
        Example(
            "wscli --color never handshake ws://127.0.0.1:3000/chat",
            "The same without colour (as NO_COLOR=1 would do).",
        ),
    ),
    "wscli serve": (
        Example(
            "wscli serve",
            "Serve the chat on 127.0.0.1:3000; the browser page is at http://127.0.0.1:3000/ and "
            "every path is a room (ws://127.0.0.1:3000/chat).",
        ),
        Example(
            "wscli serve --host 0.0.0.0 --port 8443 --certfile cert.pem --keyfile key.pem "
            "--token-file token.txt",
            "Serve wss:// and https:// on every interface; clients must present the token "
            "from the first line of token.txt (as 'Authorization: Bearer TOKEN' or "
            "?token=TOKEN). A file or the WSCLI_TOKEN variable keeps it out of ps.",
        ),
        Example(
            "wscli serve --port 0 --json-log | jq -c 'select(.event == \"connect\")'",
            "Pick a free port (the banner on stderr says which) and follow the events as JSON "
            "lines.",
        ),
    ),
    "wscli connect": (
        Example(
            "wscli connect ws://127.0.0.1:3000/chat",
            "Chat interactively: incoming messages appear above the prompt; Ctrl-D closes "
            "with 1000.",
        ),
        Example(
            "echo hello | wscli connect ws://127.0.0.1:3000/chat",
            "The pipe one-liner: send each stdin line as a message, print each reply on its "
            "own line, then close cleanly.",
        ),
        Example(
            'wscli connect --json -x \'{"op": "subscribe"}\' --count 3 '
            "wss://stream.example/feed | jq .",
            "Send a message on open, stop after three replies, and write every event as a "
            "JSON line for jq.",
        ),
    ),
    "wscli handshake": (
        Example(
            "wscli handshake -s chat -s superchat -H 'Host: server.example.com' "
            "--ws-key x3JJHMbDL1EzLkh9GBhXDw== ws://127.0.0.1:3000/chat",
            "The handshake from RFC 6455 section 1.2: offer the subprotocols chat and "
            "superchat with a fixed key; the server must answer Sec-WebSocket-Accept: "
            "HSmrc0sMlYUkAGmm5OPpG2HaGWk=.",
        ),
        Example(
            "wscli handshake --accept-for dGhlIHNhbXBsZSBub25jZQ==",
            "Compute offline the Sec-WebSocket-Accept a server must answer to a key "
            "(s3pPLMBiTxaQ9kYGzzhZRbK+xOo= for this one, from RFC 6455).",
        ),
        Example(
            "wscli handshake --offline -s chat ws://127.0.0.1:3000/chat",
            "Print the request that would be sent, without connecting.",
        ),
        Example(
            "wscli handshake --debug ws://127.0.0.1:3000/chat",
            "Also show the addresses, timings, TLS session and certificate, a hex dump of "
            "every chunk sent and received, and the close frames.",
        ),
        Example(
            "wscli handshake --cacert ca.pem wss://localhost:8443/chat",
            "Verify a wss:// server whose certificate comes from a private CA.",
        ),
        Example(
            "wscli handshake --json ws://127.0.0.1:3000/chat | jq .verdict",
            "The request, response, verdict and timings as one JSON document.",
        ),
    ),
    "wscli proxy": (
        Example(
            "wscli proxy ws://127.0.0.1:8080/socket --port 9000",
            "Point your client at ws://127.0.0.1:9000/socket and watch every message, ping "
            "and close of the conversation with the server at 127.0.0.1:8080, one line each.",
        ),
        Example(
            "wscli proxy wss://api.example.com/stream --json > traffic.ndjson",
            "Record the conversation as the JSON events of wscli connect --json, with a "
            "connection number and the side each message came from.",
        ),
        Example(
            "wscli proxy ws://127.0.0.1:8080 --delay 80ms --jitter 40ms --drop 0.02 "
            "--disconnect-every 30s --seed 7",
            "Test how a client copes with a bad network: 40-120 ms per message and "
            "direction, 2% of messages lost, a dropped connection every 30 s; the same seed "
            "gives the same faults again.",
        ),
        Example(
            "wscli proxy ws://127.0.0.1:8080 --stall",
            "Keep connections open but silent, to check that the client's ping timeout "
            "notices a dead server.",
        ),
        Example(
            "wscli proxy ws://127.0.0.1:8080 --control 9001 --record chat.ndjson",
            "Change faults while it runs (curl -X POST 127.0.0.1:9001/faults -H "
            '\'Content-Type: application/json\' -d \'{"fault": "drop", "rate": 0.5}\') '
            "and save the conversation for wscli replay.",
        ),
    ),
    "wscli replay": (
        Example(
            "wscli replay chat.ndjson --port 9000",
            "A mock server: every client that connects to ws://127.0.0.1:9000 gets the "
            "recorded server side of the first connection, at the recorded pace.",
        ),
        Example(
            "wscli replay chat.ndjson --port 9000 --once --expect --no-wait",
            "Check one client: wait for each message it should send, stop at the first "
            "difference; exit 0 when all came as recorded, 7 otherwise.",
        ),
        Example(
            "wscli replay chat.ndjson --to ws://127.0.0.1:3000 --speed 10",
            "A regression test of a server: send the recorded client side ten times faster "
            "and compare every reply (exit 7 and the first difference when one differs).",
        ),
    ),
    "wscli top": (
        Example(
            "wscli top http://127.0.0.1:3000/",
            "Watch the local chat server: clients, rooms, messages and bytes per second both "
            "ways with the last minute as a sparkline, delays, slow clients, refusals, "
            "descriptors, Redis and the last log lines. Ctrl-C quits.",
        ),
        Example(
            "WSCLI_METRICS_TOKEN=$(cat metrics.txt) wscli top https://chat.example.com/",
            "Watch a server started with --metrics-token (or --token): the token goes in the "
            "variable, out of ps.",
        ),
        Example(
            "wscli top http://127.0.0.1:3000/ --interval 2 | cat",
            "Off a terminal: one plain frame, the rates measured over 2 s.",
        ),
    ),
    "wscli completion": (
        Example(
            "wscli completion bash > ~/.local/share/bash-completion/completions/wscli",
            "Install bash completion for the current user.",
        ),
        Example(
            "source <(wscli completion zsh)",
            "Enable zsh completion in the running shell (after compinit).",
        ),
        Example(
            "wscli completion fish > ~/.config/fish/completions/wscli.fish",
            "Install fish completion for the current user.",
        ),
    ),
}

# Variables wscli reads that no option declares; option variables are collected from click.
ENVIRONMENT: tuple[Variable, ...] = (
    Variable("NO_COLOR", "Non-empty: no colour (unless --color always)."),
    Variable(
        "FORCE_COLOR",
        "Non-empty: colour even when not on a terminal (unless --color never or NO_COLOR).",
    ),
    Variable("WSCLI_TRACEBACK", "Non-empty: show the traceback of an unexpected error."),
    Variable(
        "http_proxy, https_proxy, no_proxy",
        "Proxies for ws:// and wss:// URLs of wscli connect and of wscli proxy's upstream, "
        "and the hosts that bypass "
        "them (upper-case spellings too); loopback addresses are not proxied.",
    ),
    Variable(
        "XDG_STATE_HOME",
        "Where the history and URL files live (default ~/.local/state).",
    ),
)

FILES: tuple[Variable, ...] = (
    Variable(
        HISTORY_FILE,
        "History of the interactive wscli connect prompt, created as needed "
        "(~/.local/state/wscli/history when XDG_STATE_HOME is unset), mode 0600. Shell "
        "completion offers the ws:// and wss:// URLs typed in it for URL arguments.",
    ),
    Variable(
        URLS_FILE,
        "The URLs wscli connect and wscli handshake opened, newest last, mode 0600 "
        f"(the last {KEEP_URLS} are kept). Shell completion offers them for URL arguments.",
    ),
)

SEE_ALSO_EXTERNAL = ("websocat(1)", "curl(1)")

/*
 * wsload: a WebSocket fan-out load generator for benchmarks/fanout.py.
 *
 * One thread, one epoll loop, non-blocking sockets, 127.0.0.1 only. It opens subscriber
 * connections plus one publisher connection to a broadcast server, waits until every
 * subscriber is registered (a barrier of "sync" messages: once a subscriber has received one,
 * the server has it in the room, so it receives every later message), then measures:
 *
 *   --mode fanout   the publisher keeps --window messages in flight: a message leaves the
 *                   window when EVERY subscriber has received it. Reports deliveries per
 *                   second (messages received, summed over subscribers).
 *   --mode latency  the publisher sends --rate messages per second (timerfd); each message
 *                   carries its send time; reports p50/p90/p99/max over all subscribers.
 *   --mode connect  opens --conns connections with --concurrency handshakes outstanding;
 *                   reports handshakes per second, prints the result line, then keeps the
 *                   connections open and idle until stdin reaches EOF or --hold expires (so
 *                   the caller can read the server's RSS).
 *
 * Every received data message is checked: each subscriber must get each message exactly once
 * and in order (sequence numbers), which is what tests/test_benchmarks.py relies on.
 *
 * --port2 P2 sends every other subscriber to a second server (another instance of the same
 * deployment, e.g. over Redis); the publisher stays on --port.
 *
 * --tls speaks TLS (OpenSSL, no certificate check: loopback benchmarks only) on every
 * connection: the handshakes/s of --mode connect then include the TLS handshakes. Each is a
 * full handshake unless --tls-resume: then every connection after the first that got a
 * session ticket resumes that session (as a browser coming back does); the result line says
 * how many were resumed ("tls_resumed").
 *
 * --proto sio speaks Socket.IO v4 over Engine.IO v4's WebSocket transport: it waits for the
 * Engine.IO open packet ("0{...}"), connects the default namespace ("40"), answers pings
 * ("2" -> "3") and sends chat messages as 42["message","<payload>"].
 *
 * Every phase is bounded (--timeout for set-up and drain, --duration for measuring) and an
 * alarm() ends the process in any case. The result is ONE JSON object per line on stdout;
 * diagnostics go to stderr. Build: gcc -O2 -o wsload wsload.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RING 65536u /* completion counters, indexed by seq % RING; must exceed the window */
#define RBUF (1u << 20) /* shared receive buffer: bounds the largest frame we accept */
#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's sample key, and its accept value: */
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define SIO_PATH "/socket.io/?EIO=4&transport=websocket"
#define SIO_PREFIX "42[\"message\",\""
#define SIO_PREFIX_LEN 14
#define HDR_DIGITS 12 /* "D" + 12-digit seq + " " + 19-digit send time (ns) + " " */
#define MIN_SIZE (1 + HDR_DIGITS + 1 + 19 + 1)

enum state { ST_CONNECTING, ST_TLS, ST_HANDSHAKE, ST_SIO_OPEN, ST_SIO_CONNECT, ST_OPEN, ST_CLOSED };

typedef struct conn {
    int fd;
    SSL *ssl; /* with --tls */
    int state;
    int is_pub;
    int synced;
    int got_close; /* the server sent a close frame (or the socket ended) */
    unsigned close_code;
    char *in; /* carried-over partial frame (or partial HTTP response) */
    size_t in_len, in_cap;
    char *out; /* bytes not yet written */
    size_t out_off, out_len, out_cap;
    int want_out;
    uint64_t expected; /* next data sequence number */
    uint64_t received; /* data messages received */
    uint64_t errors; /* data messages out of order, duplicated or malformed */
} conn;

/* ---- options ---- */
static const char *opt_mode = "fanout";
static int opt_sio = 0;
static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static int opt_port2 = 0; /* --port2: every other subscriber connects here (a second instance) */
static const char *opt_path = "/chat";
static int opt_subs = 100;
static int opt_window = 64;
static int opt_rate = 500;
static int opt_size = 64;
static double opt_duration = 5.0;
static double opt_warmup = 1.0;
static long opt_count = 0; /* stop after this many data messages (0: run for --duration) */
static int opt_conns = 5000;
static int opt_concurrency = 64;
static double opt_hold = 30.0;
static double opt_timeout = 30.0;
static int opt_cpu = -1;
static int opt_refill = 0; /* refill only when this many window slots are free (0: the whole
                              window, i.e. bursts of --window messages); 1 is a sliding window */
static int opt_tls = 0, opt_tls_resume = 0;
static int opt_window_all = 1; /* a message leaves the window once EVERY subscriber has it;
                                  --window-on pub: once the publisher has its own copy back */

/* ---- state ---- */
static SSL_CTX *tls_ctx;
static SSL_SESSION *tls_session; /* --tls-resume: the session every new connection resumes */
static int tls_resumed;
static conn *conns;
static int nconns;
static int epfd;
static struct sockaddr_in addr, addr2;
static char rbuf[RBUF];
static uint32_t ring[RING];
static uint64_t sent, completed; /* data messages sent / received by every subscriber */
static uint64_t pub_echoed; /* data messages the publisher has received back */
static uint64_t deliveries, measured_deliveries, others, protocol_errors;
static int measuring;
static int opened, connecting, started_conns, failed_conns, synced_subs, closed_conns;
static uint64_t *lat_samples;
static size_t lat_n, lat_cap;
static uint32_t mask_state = 0x9e3779b9u;
static char payload_pad[1 << 16];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "wsload: %s\n", msg);
    for (char *q = msg; *q; q++) /* keep the JSON line valid whatever the message holds */
        if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20) *q = '\'';
    printf("{\"error\": \"%s\", \"opened\": %d, \"failed\": %d, \"synced\": %d}\n", msg, opened,
           failed_conns, synced_subs);
    fflush(stdout);
    exit(1);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char m[] = "{\"error\": \"hard time limit reached\"}\n";
    if (write(1, m, sizeof m - 1) < 0) _exit(3);
    _exit(3);
}

/* ---- output ---- */
static void out_reserve(conn *c, size_t n) {
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + n <= c->out_cap) return;
    if (c->out_off) { /* compact first */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + n <= c->out_cap) return;
    }
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n) cap *= 2;
    c->out = realloc(c->out, cap);
    if (!c->out) fail("out of memory");
    c->out_cap = cap;
}

static void set_events(conn *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = 0};
    ev.data.u32 = (uint32_t)(c - conns);
    c->want_out = want_out;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void mark_closed(conn *c) {
    if (c->state == ST_CLOSED) return;
    if (c->state != ST_OPEN) failed_conns++;
    if (c->state == ST_CONNECTING || c->state == ST_TLS || c->state == ST_HANDSHAKE ||
        c->state == ST_SIO_OPEN || c->state == ST_SIO_CONNECT)
        connecting--;
    c->state = ST_CLOSED;
    closed_conns++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    close(c->fd);
}

/* send()/recv() or their TLS equivalents: -1 with errno EAGAIN when it would block. */
static ssize_t conn_send(conn *c, const char *buf, size_t len) {
    if (!c->ssl) return send(c->fd, buf, len, MSG_NOSIGNAL);
    int r = SSL_write(c->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    return -1;
}

static ssize_t conn_recv(conn *c, char *buf, size_t len) {
    if (!c->ssl) return recv(c->fd, buf, len, 0);
    int r = SSL_read(c->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : ECONNRESET;
    return -1;
}

static void flush_out(conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_events(c, 1);
            return;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            mark_closed(c);
            return;
        }
    }
    c->out_off = c->out_len = 0;
    set_events(c, 0);
}

/* Append one masked client frame (FIN set) with the payload given in up to three pieces. */
static void put_frame(conn *c, int opcode, const char *a, size_t alen, const char *b, size_t blen,
                      const char *d, size_t dlen) {
    size_t len = alen + blen + dlen;
    out_reserve(c, len + 14);
    unsigned char *p = (unsigned char *)c->out + c->out_len;
    size_t h = 0;
    p[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        p[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        p[h++] = 0x80 | 126;
        p[h++] = (unsigned char)(len >> 8);
        p[h++] = (unsigned char)len;
    } else {
        p[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) p[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    mask_state ^= mask_state << 13; /* xorshift32: a fresh masking key per frame */
    mask_state ^= mask_state >> 17;
    mask_state ^= mask_state << 5;
    unsigned char key[4];
    memcpy(key, &mask_state, 4);
    memcpy(p + h, key, 4);
    h += 4;
    unsigned char *q = p + h;
    memcpy(q, a, alen);
    if (blen) memcpy(q + alen, b, blen);
    if (dlen) memcpy(q + alen + blen, d, dlen);
    for (size_t i = 0; i < len; i++) q[i] ^= key[i & 3];
    c->out_len += h + len;
}

/* A chat message: text payload of opt_size bytes, in Socket.IO's event framing with --proto sio. */
static void put_message(conn *c, const char *payload, size_t len) {
    if (opt_sio)
        put_frame(c, 1, SIO_PREFIX, SIO_PREFIX_LEN, payload, len, "\"]", 2);
    else
        put_frame(c, 1, payload, len, NULL, 0, NULL, 0);
}

static void put_data(conn *c, uint64_t seq) {
    char msg[1 << 16];
    int n = snprintf(msg, sizeof msg, "D%012llu %019llu ", (unsigned long long)seq,
                     (unsigned long long)now_ns());
    memcpy(msg + n, payload_pad, (size_t)opt_size - (size_t)n);
    put_message(c, msg, (size_t)opt_size);
}

static void put_sync(conn *c) {
    char msg[1 << 16];
    msg[0] = 'S';
    memcpy(msg + 1, payload_pad, (size_t)opt_size - 1);
    put_message(c, msg, (size_t)opt_size);
}

/* ---- connections ---- */
static void start_connect(conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = ST_CONNECTING;
    connecting++;
    started_conns++;
    long index = c - conns;
    const struct sockaddr_in *to = opt_port2 && !c->is_pub && index % 2 ? &addr2 : &addr;
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS)
        fail("connect: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN};
    ev.data.u32 = (uint32_t)(c - conns);
    c->want_out = 1;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) fail("epoll_ctl: %s", strerror(errno));
}

static void send_request(conn *c) {
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     opt_sio ? SIO_PATH : opt_path, opt_host, opt_port);
    out_reserve(c, (size_t)n);
    memcpy(c->out + c->out_len, req, (size_t)n);
    c->out_len += (size_t)n;
    c->state = ST_HANDSHAKE;
    flush_out(c);
}

static void tls_step(conn *c) {
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (SSL_session_reused(c->ssl)) tls_resumed++;
        send_request(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) set_events(c, 0);
    else if (e == SSL_ERROR_WANT_WRITE) set_events(c, 1);
    else {
        unsigned long code = ERR_get_error();
        char why[160];
        ERR_error_string_n(code, why, sizeof why);
        fail("TLS handshake failed: %s", code ? why : "connection closed");
    }
}

static void start_tls(conn *c) {
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl) fail("SSL_new failed");
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    if (tls_session) SSL_set_session(c->ssl, tls_session);
    c->state = ST_TLS;
    tls_step(c);
}

/* --tls-resume: keep the first resumable session (its ticket came with the 101). */
static void keep_session(conn *c) {
    if (!opt_tls_resume || tls_session || !c->ssl) return;
    SSL_SESSION *session = SSL_get1_session(c->ssl);
    if (session && SSL_SESSION_is_resumable(session)) tls_session = session;
    else if (session) SSL_SESSION_free(session);
}

static void became_open(conn *c) {
    keep_session(c);
    c->state = ST_OPEN;
    connecting--;
    opened++;
}

static void on_data_message(conn *c, const char *p, size_t n) {
    if (n != (size_t)opt_size || n < MIN_SIZE) {
        others++;
        return;
    }
    if (p[0] == 'S') {
        if (!c->synced) {
            c->synced = 1;
            if (!c->is_pub) synced_subs++;
        }
        return;
    }
    if (p[0] != 'D') {
        others++;
        return;
    }
    uint64_t seq = 0;
    for (int i = 1; i <= HDR_DIGITS; i++) seq = seq * 10 + (uint64_t)(p[i] - '0');
    if (seq != c->expected) c->errors++;
    c->expected = seq + 1;
    c->received++;
    if (c->is_pub) { /* the publisher's own copy: not a delivery to a subscriber */
        pub_echoed = seq + 1;
        return;
    }
    deliveries++;
    if (measuring) measured_deliveries++;
    if (lat_samples) {
        uint64_t t = 0;
        for (int i = HDR_DIGITS + 2; i < HDR_DIGITS + 2 + 19; i++) t = t * 10 + (uint64_t)(p[i] - '0');
        if (lat_n == lat_cap) {
            lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
            lat_samples = realloc(lat_samples, lat_cap * sizeof *lat_samples);
            if (!lat_samples) fail("out of memory");
        }
        lat_samples[lat_n++] = now_ns() - t;
    }
    if (seq < sent && sent - seq <= RING / 2) {
        if (++ring[seq % RING] >= (uint32_t)opt_subs) {
            while (completed < sent && ring[completed % RING] >= (uint32_t)opt_subs)
                ring[completed++ % RING] = 0;
        }
    }
}

static void on_text(conn *c, const char *p, size_t n) {
    if (!opt_sio) {
        on_data_message(c, p, n);
        return;
    }
    /* Engine.IO packet types: 0 open, 2 ping, 4 message (Socket.IO packets: 0 connect, 2 event) */
    if (n >= SIO_PREFIX_LEN + 2 && memcmp(p, SIO_PREFIX, SIO_PREFIX_LEN) == 0) {
        on_data_message(c, p + SIO_PREFIX_LEN, n - SIO_PREFIX_LEN - 2);
    } else if (n == 1 && p[0] == '2') {
        put_frame(c, 1, "3", 1, NULL, 0, NULL, 0);
        flush_out(c);
    } else if (n >= 1 && p[0] == '0' && c->state == ST_SIO_OPEN) {
        c->state = ST_SIO_CONNECT;
        put_frame(c, 1, "40", 2, NULL, 0, NULL, 0);
        flush_out(c);
    } else if (n >= 2 && p[0] == '4' && p[1] == '0' && c->state == ST_SIO_CONNECT) {
        became_open(c);
    } else {
        others++;
    }
}

/* Parse complete server frames in buf; returns bytes consumed. */
static size_t parse_frames(conn *c, char *buf, size_t len) {
    size_t off = 0;
    while (c->state != ST_CLOSED && len - off >= 2) {
        unsigned char *p = (unsigned char *)buf + off;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        uint64_t plen = p[1] & 0x7f;
        size_t h = 2;
        if (p[1] & 0x80) fail("server sent a masked frame");
        if (plen == 126) {
            if (len - off < 4) break;
            plen = ((uint64_t)p[2] << 8) | p[3];
            h = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = (plen << 8) | p[2 + i];
            h = 10;
        }
        if (plen > RBUF / 2) fail("frame of %llu bytes is larger than this tool accepts",
                                  (unsigned long long)plen);
        if (len - off < h + plen) break;
        char *payload = buf + off + h;
        off += h + (size_t)plen;
        if (!fin || op == 0) { /* fragmented messages never occur in this workload */
            protocol_errors++;
            continue;
        }
        if (op == 1 || op == 2) {
            if (op == 1) on_text(c, payload, (size_t)plen);
            else on_data_message(c, payload, (size_t)plen);
        } else if (op == 9) {
            put_frame(c, 10, payload, (size_t)plen, NULL, 0, NULL, 0);
            flush_out(c);
        } else if (op == 8) {
            c->got_close = 1;
            c->close_code = plen >= 2 ? ((unsigned char)payload[0] << 8 | (unsigned char)payload[1]) : 1005;
            mark_closed(c);
        } else if (op != 10) {
            protocol_errors++;
        }
    }
    return off;
}

static void read_once(conn *c);

static void on_readable(conn *c) {
    /* TLS may hold decrypted bytes that epoll will not announce again: read them all. */
    do read_once(c);
    while (c->ssl && c->state != ST_CLOSED && SSL_pending(c->ssl) > 0);
}

static void read_once(conn *c) {
    size_t have = c->in_len;
    if (have) memcpy(rbuf, c->in, have);
    ssize_t n = conn_recv(c, rbuf + have, RBUF - have);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        mark_closed(c);
        return;
    }
    if (n == 0) {
        mark_closed(c);
        return;
    }
    size_t len = have + (size_t)n, off = 0;
    if (c->state == ST_HANDSHAKE) {
        char *end = memmem(rbuf, len, "\r\n\r\n", 4);
        if (!end) {
            if (len > 16384) fail("handshake response too long");
            off = 0;
            goto keep;
        }
        size_t hlen = (size_t)(end - rbuf) + 4;
        if (len < 12 || memcmp(rbuf, "HTTP/1.1 101", 12) != 0) {
            char status[64];
            size_t sl = (size_t)(memchr(rbuf, '\r', len) ? (char *)memchr(rbuf, '\r', len) - rbuf : 0);
            if (sl > sizeof status - 1) sl = sizeof status - 1;
            memcpy(status, rbuf, sl);
            status[sl] = 0;
            fail("handshake refused: %s", status);
        }
        if (!memmem(rbuf, hlen, ACCEPT, strlen(ACCEPT))) fail("wrong Sec-WebSocket-Accept");
        off = hlen;
        if (opt_sio) c->state = ST_SIO_OPEN;
        else became_open(c);
    }
    off += parse_frames(c, rbuf + off, len - off);
keep:
    if (c->state == ST_CLOSED) return;
    c->in_len = len - off;
    if (c->in_len) {
        if (c->in_cap < c->in_len) {
            c->in = realloc(c->in, c->in_len);
            if (!c->in) fail("out of memory");
            c->in_cap = c->in_len;
        }
        memcpy(c->in, rbuf + off, c->in_len);
    }
}

static void on_writable(conn *c) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) fail("connect to %s:%d: %s", opt_host, opt_port, strerror(err));
        if (opt_tls) start_tls(c);
        else send_request(c);
        return;
    }
    if (c->state == ST_TLS) {
        tls_step(c);
        return;
    }
    flush_out(c);
}

/* Run the event loop once (at most timeout_ms); stdin_fd_seen is set when stdin hits EOF. */
static int stdin_eof;
static int timer_fd = -1;
static uint64_t timer_ticks;
#define STDIN_TAG 0xfffffffeu
#define TIMER_TAG 0xfffffffdu

static void poll_once(int timeout_ms) {
    struct epoll_event evs[512];
    int n = epoll_wait(epfd, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR) fail("epoll_wait: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        uint32_t tag = evs[i].data.u32;
        if (tag == STDIN_TAG) {
            char b[256];
            ssize_t r = read(0, b, sizeof b);
            if (r <= 0) {
                stdin_eof = 1;
                epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
            }
            continue;
        }
        if (tag == TIMER_TAG) {
            uint64_t k = 0;
            if (read(timer_fd, &k, sizeof k) == sizeof k) timer_ticks += k;
            continue;
        }
        conn *c = &conns[tag];
        if (c->state == ST_CLOSED) continue;
        if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
            if (c->state == ST_CONNECTING && (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                on_writable(c); /* reports the connect error */
                continue;
            }
            if (c->state == ST_TLS) {
                tls_step(c);
                continue;
            }
            if (c->state != ST_CONNECTING) on_readable(c);
        }
        if (c->state != ST_CLOSED && (evs[i].events & EPOLLOUT)) on_writable(c);
    }
}

/* Open every connection, keeping at most opt_concurrency handshakes outstanding. */
static void open_all(double deadline) {
    int next = 0;
    while (opened < nconns) {
        while (next < nconns && connecting < opt_concurrency) start_connect(&conns[next++]);
        if (failed_conns) fail("%d connections failed during the handshake", failed_conns);
        if (now_s() > deadline)
            fail("timed out opening connections (%d of %d open)", opened, nconns);
        poll_once(10);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(double q) {
    if (!lat_n) return -1;
    size_t i = (size_t)(q * (double)(lat_n - 1) + 0.5);
    return (double)lat_samples[i] / 1e3;
}

static void close_all(void) {
    for (int i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        if (c->state == ST_CLOSED) continue;
        put_frame(c, 8, "\x03\xe8", 2, NULL, 0, NULL, 0); /* 1000 normal closure */
        flush_out(c);
    }
    double until = now_s() + 0.5; /* let servers answer; never wait long */
    while (closed_conns < nconns && now_s() < until) poll_once(10);
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != ST_CLOSED) close(conns[i].fd);
}

static void usage(void) {
    fprintf(stderr,
            "usage: wsload --port P [--port2 P2] [--mode fanout|latency|connect] [--proto ws|sio] [--path /chat]\n"
            "  [--subs N] [--window N] [--rate N] [--size BYTES] [--duration S] [--warmup S]\n"
            "  [--count N] [--conns N] [--concurrency N] [--hold S] [--timeout S] [--cpu N]\n"
            "  [--refill N] [--window-on all|pub] [--tls [--tls-resume]]\n");
    exit(2);
}

int main(int argc, char **argv) {
    static struct option longopts[] = {
        {"mode", 1, 0, 'm'},     {"proto", 1, 0, 'P'},   {"host", 1, 0, 'H'},
        {"port", 1, 0, 'p'},     {"path", 1, 0, 'u'},    {"subs", 1, 0, 's'},
        {"window", 1, 0, 'w'},   {"rate", 1, 0, 'r'},    {"size", 1, 0, 'z'},
        {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'W'},  {"count", 1, 0, 'n'},
        {"conns", 1, 0, 'c'},    {"concurrency", 1, 0, 'C'}, {"hold", 1, 0, 'h'},
        {"timeout", 1, 0, 't'},  {"cpu", 1, 0, 'U'},     {"window-on", 1, 0, 'o'},
        {"refill", 1, 0, 'R'},   {"port2", 1, 0, 'q'},   {"tls", 0, 0, 'T'},
        {"tls-resume", 0, 0, 'S'},
        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': opt_mode = optarg; break;
        case 'P': opt_sio = strcmp(optarg, "sio") == 0; break;
        case 'H': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'q': opt_port2 = atoi(optarg); break;
        case 'u': opt_path = optarg; break;
        case 's': opt_subs = atoi(optarg); break;
        case 'w': opt_window = atoi(optarg); break;
        case 'r': opt_rate = atoi(optarg); break;
        case 'z': opt_size = atoi(optarg); break;
        case 'd': opt_duration = atof(optarg); break;
        case 'W': opt_warmup = atof(optarg); break;
        case 'n': opt_count = atol(optarg); break;
        case 'c': opt_conns = atoi(optarg); break;
        case 'C': opt_concurrency = atoi(optarg); break;
        case 'h': opt_hold = atof(optarg); break;
        case 't': opt_timeout = atof(optarg); break;
        case 'U': opt_cpu = atoi(optarg); break;
        case 'R': opt_refill = atoi(optarg); break;
        case 'o': opt_window_all = strcmp(optarg, "pub") != 0; break;
        case 'T': opt_tls = 1; break;
        case 'S': opt_tls = opt_tls_resume = 1; break;
        default: usage();
        }
    }
    int mode_fanout = !strcmp(opt_mode, "fanout"), mode_latency = !strcmp(opt_mode, "latency"),
        mode_connect = !strcmp(opt_mode, "connect");
    if (!opt_port || !(mode_fanout || mode_latency || mode_connect)) usage();
    if (opt_size < MIN_SIZE || opt_size > (int)sizeof payload_pad) fail("--size must be %d..%zu", MIN_SIZE, sizeof payload_pad);
    if (opt_window < 1 || (unsigned)opt_window > RING / 4) fail("--window must be 1..%u", RING / 4);
    if (opt_subs < 1 || opt_conns < 1 || opt_concurrency < 1 || opt_rate < 1) usage();
    if (opt_refill <= 0 || opt_refill > opt_window) opt_refill = opt_window;
    memset(payload_pad, 'x', sizeof payload_pad);

    if (opt_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt_cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) fail("sched_setaffinity: %s", strerror(errno));
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(opt_timeout * 3 + opt_duration + opt_warmup + (mode_connect ? opt_hold : 0) + 10));

    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt_port);
    if (inet_pton(AF_INET, opt_host, &addr.sin_addr) != 1) fail("--host must be an IPv4 address");
    if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127) fail("--host must be a loopback address");
    addr2 = addr;
    addr2.sin_port = htons((uint16_t)opt_port2);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (opt_tls) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        if (!tls_ctx) fail("SSL_CTX_new failed");
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL); /* a throwaway loopback cert */
        SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF); /* resumption: --tls-resume only */
    }

    nconns = mode_connect ? opt_conns : opt_subs + 1;
    if ((rlim_t)nconns + 64 > rl.rlim_cur) fail("RLIMIT_NOFILE %llu is too low for %d connections",
                                                (unsigned long long)rl.rlim_cur, nconns);
    conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns) fail("out of memory");

    if (mode_connect) {
        double t0 = now_s();
        open_all(t0 + opt_timeout);
        double t1 = now_s();
        printf("{\"mode\": \"connect\", \"conns\": %d, \"seconds\": %.4f, \"handshakes_per_s\": %.1f, "
               "\"gen_cpu\": %.3f, \"tls\": %d, \"tls_resumed\": %d}\n",
               nconns, t1 - t0, nconns / (t1 - t0), cpu_s() / (t1 - t0), opt_tls, tls_resumed);
        fflush(stdout);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
        epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
        double until = now_s() + opt_hold;
        while (!stdin_eof && now_s() < until) poll_once(50);
        int alive = 0;
        for (int i = 0; i < nconns; i++) alive += conns[i].state == ST_OPEN;
        close_all();
        printf("{\"mode\": \"connect\", \"still_open\": %d}\n", alive);
        return alive == nconns ? 0 : 1;
    }

    /* subscribers first, then the publisher (last slot) */
    conns[nconns - 1].is_pub = 1;
    double deadline = now_s() + opt_timeout;
    open_all(deadline);

    /* barrier: sync messages until every subscriber (and the publisher) has received one */
    conn *pub = &conns[nconns - 1];
    double next_sync = 0;
    while (synced_subs < opt_subs) {
        if (now_s() > deadline)
            fail("timed out waiting for subscribers to join (%d of %d)", synced_subs, opt_subs);
        if (closed_conns) fail("%d connections closed before the measurement", closed_conns);
        if (now_s() >= next_sync) {
            put_sync(pub);
            flush_out(pub);
            next_sync = now_s() + 0.02;
        }
        poll_once(5);
    }
    /* let the last sync messages arrive so they don't count as time spent on data */
    double settle = now_s() + 0.05;
    while (now_s() < settle) poll_once(5);

    if (mode_latency) {
        lat_samples = malloc(1);
        lat_cap = 0;
        timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        long ns = 1000000000L / opt_rate;
        struct itimerspec its = {{ns / 1000000000L, ns % 1000000000L}, {0, 1}};
        timerfd_settime(timer_fd, 0, &its, NULL);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
        epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);
    }

    double t_start = now_s(), t_measure = t_start + opt_warmup, t_end = t_measure + opt_duration;
    double cpu_measure = 0, cpu_end = 0, t_stop = 0;
    int did_measure = 0;
    size_t lat_skip = 0;
    while (1) {
        double t = now_s();
        if (!measuring && t >= t_measure && t < t_end) {
            measuring = did_measure = 1;
            cpu_measure = cpu_s();
            t_measure = t;
            lat_skip = lat_n;
        }
        int count_done = opt_count && sent >= (uint64_t)opt_count;
        if (t >= t_end || count_done) break;
        if (pub->state == ST_CLOSED) fail("the server closed the publisher");
        if (mode_fanout) {
            uint64_t done = opt_window_all ? completed : pub_echoed;
            if (sent - done <= (uint64_t)(opt_window - opt_refill))
            while (sent - done < (uint64_t)opt_window &&
                   !(opt_count && sent >= (uint64_t)opt_count))
                put_data(pub, sent++);
        } else {
            while (timer_ticks && !(opt_count && sent >= (uint64_t)opt_count)) {
                timer_ticks--;
                put_data(pub, sent++);
            }
        }
        flush_out(pub);
        poll_once(2);
    }
    t_stop = now_s();
    cpu_end = cpu_s();
    measuring = 0;
    double measured = did_measure ? t_stop - t_measure : 0;
    uint64_t measured_deliv = measured_deliveries;

    /* drain: every subscriber should get every message sent */
    double drain_until = now_s() + opt_timeout;
    while (now_s() < drain_until) {
        int done = 1;
        for (int i = 0; i < nconns && done; i++)
            if (conns[i].state != ST_CLOSED && conns[i].expected < sent) done = 0;
        if (done) break;
        poll_once(5);
    }
    int complete = 0, server_closed = 0;
    uint64_t errors = 0, missing = 0;
    for (int i = 0; i < opt_subs; i++) {
        conn *c = &conns[i];
        errors += c->errors;
        missing += sent - (c->received < sent ? c->received : sent);
        if (c->received == sent && c->errors == 0 && c->expected == sent) complete++;
        if (c->state == ST_CLOSED) server_closed++;
    }
    printf("{\"mode\": \"%s\", \"proto\": \"%s\", \"subs\": %d, \"sent\": %llu, "
           "\"deliveries\": %llu, \"measured_seconds\": %.4f, \"measured_deliveries\": %llu, "
           "\"deliveries_per_s\": %.1f, \"complete_subs\": %d, \"order_errors\": %llu, "
           "\"missing\": %llu, \"others\": %llu, \"protocol_errors\": %llu, \"closed_subs\": %d, "
           "\"gen_cpu\": %.3f",
           opt_mode, opt_sio ? "sio" : "ws", opt_subs, (unsigned long long)sent,
           (unsigned long long)deliveries, measured, (unsigned long long)measured_deliv,
           measured > 0 ? (double)measured_deliv / measured : 0.0, complete,
           (unsigned long long)errors, (unsigned long long)missing, (unsigned long long)others,
           (unsigned long long)protocol_errors, server_closed,
           measured > 0 ? (cpu_end - cpu_measure) / measured : 0.0);
    if (mode_latency) {
        /* samples from the warm-up are dropped */
        memmove(lat_samples, lat_samples + lat_skip, (lat_n - lat_skip) * sizeof *lat_samples);
        lat_n -= lat_skip;
        qsort(lat_samples, lat_n, sizeof *lat_samples, cmp_u64);
        printf(", \"samples\": %zu, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
               "\"max_us\": %.1f",
               lat_n, pct_us(0.5), pct_us(0.9), pct_us(0.99), pct_us(1.0));
    }
    printf("}\n");
    fflush(stdout);
    close_all();
    return 0;
}

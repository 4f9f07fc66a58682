// Test peer: a Socket.IO server with acknowledgements, binary events and a namespace with
// an auth check. Usage: node server.js PORT [polling] [sticky] [--tls CERT KEY]
// ("sticky": requests of a session must carry the cookie its handshake set; "polling":
// transports: ["polling"], so a WebSocket upgrade is refused and clients must long-poll;
// --tls: https/wss with that certificate). Listens on 127.0.0.1 and
// prints "socketio-acks listening on PORT".
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { Server } = require('socket.io');
const port = +(process.argv[2] || 0);
const options = process.argv.slice(3);
const pollingOnly = options.includes('polling');
const tls = options.indexOf('--tls'); // --tls CERT KEY: serve https
const server = tls >= 0
  ? https.createServer({ cert: fs.readFileSync(options[tls + 1]), key: fs.readFileSync(options[tls + 2]) })
  : http.createServer();
const io = new Server(server, pollingOnly ? { transports: ['polling'] } : {});
if (options.includes('sticky')) {
  // As a load balancer with sticky sessions: the handshake sets a cookie, and a request of
  // an open session without it is refused (it would have reached another instance).
  io.engine.on('initial_headers', (headers) => { headers['set-cookie'] = 'lb=node-1; Path=/; HttpOnly'; });
  io.engine.use((req, res, next) => {
    const sid = new URL(req.url, 'http://x').searchParams.get('sid');
    if (sid && !(req.headers.cookie || '').split(/; */).includes('lb=node-1')) {
      res.writeHead(400);
      res.end('no sticky cookie');
      return;
    }
    next();
  });
}

// The acknowledgement callback, if the client asked for one, is the last argument.
const split = (args) => (typeof args[args.length - 1] === 'function' ? [args.slice(0, -1), args[args.length - 1]] : [args, null]);
const describe = (args) => args.map((a) => (Buffer.isBuffer(a) ? `bytes:${a.toString('hex')}` : typeof a));

io.on('connection', (socket) => {
  socket.emit('welcome', { transport: socket.conn.transport.name });
  // Echo the arguments back as an ack (when asked) and as an 'echo' event.
  socket.on('echo', (...all) => {
    const [args, ack] = split(all);
    if (ack) ack(...args);
    socket.emit('echo', ...args);
  });
  // What types arrived: tells JSON values, strings and binary apart.
  socket.on('types', (...all) => {
    const [args, ack] = split(all);
    if (ack) ack(describe(args));
    socket.emit('types', describe(args));
  });
  socket.on('sum', (...all) => {
    const [[a, b], ack] = split(all);
    if (ack) ack(a + b);
  });
  socket.on('silent', () => {}); // never acknowledges
  socket.on('binary', (...all) => {
    const [, ack] = split(all);
    const data = Buffer.from([0, 1, 2, 255]);
    socket.emit('blob', 'four bytes', data);
    if (ack) ack(data);
  });
  // Disconnect this client, closing the underlying connection (what a server does to a
  // client it throws out).
  socket.on('kick', () => socket.disconnect(true));
  // Ask the client for an acknowledgement and report what it answered.
  socket.on('ask', () => {
    socket.emit('question', 'ready?', (...reply) => socket.emit('answered', reply));
  });
});

io.of('/admin').use((socket, next) => {
  // Either a header (-H) or the CONNECT auth payload (--handshake-auth) may carry the token.
  if (socket.handshake.headers['x-token'] === 'secret') return next();
  if (socket.handshake.auth && socket.handshake.auth.token === 'secret') return next();
  return next(new Error('not authorized'));
});
io.of('/admin').on('connection', (socket) => {
  socket.on('whoami', (...all) => {
    const [, ack] = split(all);
    if (ack) ack({ admin: true, nsp: socket.nsp.name });
  });
});

server.listen(port, '127.0.0.1', () => console.log(`socketio-acks listening on ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));

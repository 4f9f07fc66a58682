// One fixed chat with the classic Socket.io server's protocol, run against any server:
//   node classic.js http://127.0.0.1:PORT
// Three clients — the default transports (long-polling, then the upgrade), WebSocket only,
// long-polling only — each send 'message' events of every JSON type and binary, one at a
// time (the next once every client has the last one). Prints ONE JSON transcript: what each
// client received, in order, binary as {"$binary": base64}; no ids or timings, so the
// transcripts of two servers compare equal when they behave alike.
'use strict';
const { io } = require('socket.io-client');

const url = process.argv[2];
const clients = {
  upgrade: io(url, { reconnection: false, forceNew: true }),
  websocket: io(url, { reconnection: false, forceNew: true, transports: ['websocket'] }),
  polling: io(url, { reconnection: false, forceNew: true, transports: ['polling'] }),
};
const names = Object.keys(clients);
const received = Object.fromEntries(names.map((name) => [name, []]));
const plan = [
  ['upgrade', 'hello'],
  ['websocket', 42],
  ['polling', { k: [1, 2, { deep: null }] }],
  ['upgrade', Buffer.from([0, 1, 2, 255])],
  ['websocket', 'ünïcödé ☃ \u2028'],
  ['polling', ''],
  ['upgrade', true],
  ['websocket', ['a', 1.5, false]],
  ['polling', { file: Buffer.from('nested') }],
];

function encode(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value;
}

const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timeout', received }) + '\n');
  process.exit(1);
}, 20000);

let step = 0;
let pending = 0;

function next() {
  if (step === plan.length) {
    clients.upgrade.disconnect();
    clients.websocket.emit('message', 'after one left');
    pending = 2;
    step++;
    return;
  }
  if (step > plan.length) {
    clearTimeout(timer);
    process.stdout.write(JSON.stringify(received) + '\n');
    for (const name of names) clients[name].disconnect();
    setTimeout(() => process.exit(0), 50);
    return;
  }
  const [sender, data] = plan[step++];
  pending = names.length;
  clients[sender].emit('message', data);
}

for (const name of names) {
  const socket = clients[name];
  socket.on('message', (...args) => {
    received[name].push(encode(args));
    pending--;
    if (pending === 0) next();
  });
  socket.on('connect_error', (err) => {
    process.stdout.write(JSON.stringify({ error: String(err.message), client: name }) + '\n');
    process.exit(1);
  });
}

let connected = 0;
for (const name of names) {
  clients[name].on('connect', () => {
    connected++;
    if (connected === names.length) next();
  });
}

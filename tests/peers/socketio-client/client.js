// The real socket.io-client under Node, driven line by line for wscli's tests.
// stdin: one JSON command per line; stdout: one JSON event per line.
//   {"op":"connect","name":"a","url":"http://127.0.0.1:P/chat","opts":{...}}
//   {"op":"emit","name":"a","event":"message","args":[...],"ack":true}
//   {"op":"disconnect","name":"a"}      {"op":"exit"}
// Binary values travel as {"$binary":"<base64>"} both ways. Events printed:
//   connect (id, transport), upgrade (transport), event (name, args), ack (args),
//   connect_error (message), disconnect (reason), error (message).
'use strict';
const { io } = require('socket.io-client');
const readline = require('readline');

const sockets = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function encode(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value instanceof ArrayBuffer ? new Uint8Array(value) : value).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') {
    const result = {};
    for (const [k, v] of Object.entries(value)) result[k] = encode(v);
    return result;
  }
  return value;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if (typeof value.$binary === 'string') return Buffer.from(value.$binary, 'base64');
    const result = {};
    for (const [k, v] of Object.entries(value)) result[k] = decode(v);
    return result;
  }
  return value;
}

function connect(cmd) {
  const opts = Object.assign({ reconnection: false, forceNew: true, timeout: 10000 }, cmd.opts || {});
  const socket = io(cmd.url, opts);
  const name = cmd.name;
  sockets.set(name, socket);
  socket.io.on('open', () => {
    socket.io.engine.once('upgrade', (transport) => out({ name, type: 'upgrade', transport: transport.name }));
  });
  socket.on('connect', () => {
    out({ name, type: 'connect', id: socket.id, transport: socket.io.engine.transport.name });
  });
  socket.on('connect_error', (err) => out({ name, type: 'connect_error', message: String(err && err.message) }));
  socket.on('disconnect', (reason) => out({ name, type: 'disconnect', reason }));
  socket.onAny((event, ...args) => out({ name, type: 'event', event, args: encode(args) }));
}

function emit(cmd) {
  const socket = sockets.get(cmd.name);
  const args = decode(cmd.args || []);
  if (cmd.ack) {
    socket.timeout(cmd.timeout || 10000).emit(cmd.event, ...args, (err, ...reply) => {
      if (err) out({ name: cmd.name, type: 'ack_timeout', event: cmd.event });
      else out({ name: cmd.name, type: 'ack', event: cmd.event, args: encode(reply) });
    });
  } else {
    socket.emit(cmd.event, ...args);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (cmd.op === 'connect') connect(cmd);
    else if (cmd.op === 'emit') emit(cmd);
    else if (cmd.op === 'disconnect') sockets.get(cmd.name).disconnect();
    else if (cmd.op === 'exit') {
      for (const socket of sockets.values()) socket.disconnect();
      setTimeout(() => process.exit(0), 50);
    }
  } catch (err) {
    out({ type: 'error', message: String(err && err.message) });
  }
});
rl.on('close', () => process.exit(0));
out({ type: 'ready' });

// Peer: the classic Socket.IO chat (io.emit('message', data) on each 'message' event, as
// ../../../../shared/peers/seed-socketio), made multi-instance through Redis with one of
// Socket.IO's own adapters:
//   ADAPTER=pubsub   @socket.io/redis-adapter          (Redis pub/sub)
//   ADAPTER=streams  @socket.io/redis-streams-adapter  (Redis Streams)
// Usage: REDIS_URL=redis://127.0.0.1:6379 ADAPTER=pubsub node server.js [PORT]
// Listens on 127.0.0.1 (PORT 0: a free one) and prints "socketio-redis listening on PORT".
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { createClient } = require('redis');

async function main() {
  const port = +(process.argv[2] || process.env.PORT || 0);
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const kind = process.env.ADAPTER || 'pubsub';
  const server = http.createServer();
  const io = new Server(server);
  if (kind === 'streams') {
    const { createAdapter } = require('@socket.io/redis-streams-adapter');
    const client = createClient({ url });
    await client.connect();
    io.adapter(createAdapter(client));
  } else {
    const { createAdapter } = require('@socket.io/redis-adapter');
    const pub = createClient({ url });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  io.on('connection', (socket) => {
    socket.on('message', (data) => { io.emit('message', data); });
  });
  server.listen(port, '127.0.0.1', () =>
    console.log(`socketio-redis listening on ${server.address().port}`));
}
process.on('SIGTERM', () => process.exit(0));
main().catch((err) => { console.error(String(err)); process.exit(1); });

// The Node `ws` broadcast peer (../shared/peers/node-ws) over TLS, for the TLS handshake
// phase of benchmarks/fanout.py: the same server on Node's https.Server.
// Usage: node server.js PORT CERT KEY   (listens on 127.0.0.1; PORT 0 picks a free one)
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');
const [port, cert, key] = [+(process.argv[2] || 0), process.argv[3], process.argv[4]];
const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
const wss = new WebSocketServer({ server }); // permessage-deflate off (ws default)
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});
server.listen(port, '127.0.0.1', () => console.log(`node-ws-tls listening on ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));

// The baseline of `rtc-interop bench relay`: a minimal relay on the `ws` package, rooms by URL
// path, every text frame forwarded to the other members of the room. No checks, no limits.
import { WebSocketServer } from 'ws';

const rooms = new Map();
const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
server.on('listening', () => {
  console.error(`node relay listening on ws://127.0.0.1:${server.address().port}/<room>`);
});
server.on('connection', (socket, request) => {
  const room = new URL(request.url, 'ws://x').pathname;
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(socket);
  socket.on('message', (data, isBinary) => {
    for (const other of members) {
      if (other !== socket) other.send(data, { binary: isBinary });
    }
  });
  socket.on('close', () => {
    members.delete(socket);
    if (members.size === 0) rooms.delete(room);
  });
  socket.on('error', () => {});
});

#!/usr/bin/env python3
"""A TCP relay that counts what passes: bytes client->server, bytes server->client, connections, and HTTP requests
(request heads, bodies skipped by their Content-Length). Used by the benchmarks as an independent witness of what a push sends; it knows
nothing about OCI. On SIGUSR1 it writes its counters as one JSON line to the stats file.

    count_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT STATS_FILE
"""
import asyncio, json, signal, sys

counts = {"connections": 0, "requests": 0, "unframed": 0, "bytes_up": 0, "bytes_down": 0}


class RequestCounter:
    """Follows HTTP/1.1 framing of the client's bytes (request line and headers, then Content-Length bytes of body),
    so requests are counted without looking inside bodies. A chunked request body cannot be followed this simply: the
    connection is then counted in "unframed" and its later requests are not counted."""

    def __init__(self):
        self.buf = b""
        self.body_left = 0
        self.lost = False

    def feed(self, data):
        if self.lost:
            return
        if self.body_left:
            n = min(self.body_left, len(data))
            self.body_left -= n
            data = data[n:]
        self.buf += data
        while self.buf and not self.body_left:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            self.buf = self.buf[end + 4:]
            counts["requests"] += 1
            headers = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in head[1:] if ":" in h}
            if headers.get("transfer-encoding", "").lower() == "chunked":
                counts["unframed"] += 1
                self.lost = True
                self.buf = b""
                return
            length = int(headers.get("content-length", "0"))
            n = min(length, len(self.buf))
            self.buf = self.buf[n:]
            self.body_left = length - n


async def pipe(reader, writer, key, counter=None):
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            counts[key] += len(data)
            if counter:
                counter.feed(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer, upstream):
    counts["connections"] += 1
    host, port = upstream.rsplit(":", 1)
    try:
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer, "bytes_up", RequestCounter()),
                         pipe(server_reader, client_writer, "bytes_down"))


async def main():
    listen_port, upstream, stats = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    loop = asyncio.get_running_loop()

    def dump():
        with open(stats, "w") as f:
            f.write(json.dumps(counts) + "\n")

    loop.add_signal_handler(signal.SIGUSR1, dump)
    server = await asyncio.start_server(lambda r, w: handle(r, w, upstream), "127.0.0.1", listen_port)
    dump()
    async with server:
        await server.serve_forever()


asyncio.run(main())

"""A scripted, misbehaving BitTorrent peer for hardening tests (plain sockets, no libtorrent).

EvilPeer speaks just enough of BEP 3 (handshake, bitfield, have, unchoke, request, piece) to get
torfs to talk to it, then runs a *scenario*: a function (peer, conn) that misbehaves in one
specific way. It works in both directions:
  - listening: torfs connects to `peer.addr` (pass it as `--peer`);
  - connecting: `peer.connect_to(ip, port)` opens connections to torfs's `--listen` port.

Every connection records what happened in a ConnRecord (bytes sent, whether and when torfs
closed it), so tests can assert that torfs dropped the peer rather than only that it survived.
Threads are daemons; close() stops accepting and shuts every socket down."""
import os
import socket
import struct
import threading
import time

PROTOCOL = b"\x13BitTorrent protocol"

# Message ids (BEP 3).
CHOKE, UNCHOKE, INTERESTED, NOT_INTERESTED, HAVE, BITFIELD, REQUEST, PIECE, CANCEL = range(9)
BLOCK = 16384


class ConnRecord:
    """What happened on one connection. `closed_at` is set when torfs closed it (EOF/RST)."""

    def __init__(self, outgoing):
        self.outgoing = outgoing
        self.opened_at = time.monotonic()
        self.closed_at = None
        self.handshake_ok = False
        self.bytes_sent = 0
        self.messages_received = 0
        self.requests_received = 0
        self.cancels_received = 0

    @property
    def closed_by_torfs(self):
        return self.closed_at is not None


class Conn:
    """A socket plus its record; helpers raise ConnectionError when torfs closes it."""

    def __init__(self, sock, record):
        self.sock = sock
        self.record = record

    def send(self, data):
        self.sock.sendall(data)
        self.record.bytes_sent += len(data)

    def send_msg(self, msg_id, payload=b""):
        self.send(struct.pack(">IB", 1 + len(payload), msg_id) + payload)

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by torfs")
            buf += chunk
        return bytes(buf)

    def recv_msg(self):
        """(id or None for keep-alive, payload)."""
        length = struct.unpack(">I", self.recv_exact(4))[0]
        if length > (1 << 20) + 13:
            raise ConnectionError(f"torfs sent an oversized length {length}")
        body = self.recv_exact(length) if length else b""
        self.record.messages_received += 1
        if body and body[0] == REQUEST:
            self.record.requests_received += 1
        return (body[0] if body else None), body[1:]

    def drain_until_closed(self, timeout):
        """Reads and discards until torfs closes the connection or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    raise ConnectionError("closed by torfs")
            except socket.timeout:
                return


class EvilPeer:
    """A peer on `ip` that runs `scenario(peer, conn)` after the handshake on every connection.

    num_pieces / piece_length / total_size describe the torrent; data_path (optional) is the
    real content, for scenarios that serve some honest bytes. `handshake(peer, conn, outgoing)`
    replaces the plain handshake (returns False to skip the scenario)."""

    def __init__(self, ip, info_hash_hex, num_pieces, scenario, piece_length=0, total_size=0,
                 data_path=None, handshake=None):
        self.ip = ip
        self.info_hash = bytes.fromhex(info_hash_hex)
        self.num_pieces = num_pieces
        self.piece_length = piece_length
        self.total_size = total_size
        self.data_path = data_path
        self.scenario = scenario
        self.handshake_fn = handshake or send_handshake
        self.peer_id = b"-EV0001-" + os.urandom(6).hex().encode()
        self.records = []
        self.sockets = []
        self.lock = threading.Lock()
        self.stop = False
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((ip, 0))
        self.listener.listen(64)
        self.addr = f"{ip}:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept_loop, daemon=True).start()

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self):
        self.stop = True
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.sockets)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _track(self, sock, outgoing):
        record = ConnRecord(outgoing)
        with self.lock:
            self.records.append(record)
            self.sockets.append(sock)
        return Conn(sock, record)

    def _accept_loop(self):
        while not self.stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = self._track(sock, outgoing=False)
            threading.Thread(target=self._serve, args=(conn, False), daemon=True).start()

    def connect_to(self, ip, port, wait=False):
        """Opens one connection from self.ip to torfs and runs the scenario on it."""
        sock = socket.socket()
        sock.bind((self.ip, 0))
        sock.connect((ip, port))
        conn = self._track(sock, outgoing=True)
        t = threading.Thread(target=self._serve, args=(conn, True), daemon=True)
        t.start()
        if wait:
            t.join()
        return conn.record

    def _serve(self, conn, outgoing):
        try:
            with conn.sock:
                if not self.handshake_fn(self, conn, outgoing):
                    return
                conn.record.handshake_ok = True
                self.scenario(self, conn)
        except (ConnectionError, OSError):
            if not self.stop:
                conn.record.closed_at = time.monotonic()

    # -- helpers for scenarios ----------------------------------------------------------------

    def full_bitfield(self):
        nbytes = (self.num_pieces + 7) // 8
        bits = bytearray(b"\xff" * nbytes)
        if self.num_pieces % 8:
            bits[-1] = (0xFF << (8 - self.num_pieces % 8)) & 0xFF
        return bytes(bits)

    def block_size(self, index, begin):
        piece = min(self.piece_length, self.total_size - index * self.piece_length)
        return min(BLOCK, piece - begin)

    @property
    def connections(self):
        with self.lock:
            return len(self.records)

    def dropped(self):
        """Records of connections torfs closed."""
        with self.lock:
            return [r for r in self.records if r.closed_by_torfs]


def handshake_bytes(peer):
    return PROTOCOL + bytes(8) + peer.info_hash + peer.peer_id


def send_handshake(peer, conn, outgoing):
    """Plain handshake; the initiator sends first."""
    if outgoing:
        conn.send(handshake_bytes(peer))
        theirs = conn.recv_exact(68)
    else:
        theirs = conn.recv_exact(68)
        conn.send(handshake_bytes(peer))
    return theirs[:20] == PROTOCOL and theirs[28:48] == peer.info_hash


def trickle_handshake(peer, conn, outgoing):
    """Sends a valid handshake one byte per second: torfs must give up long before the end."""
    if not outgoing:
        conn.recv_exact(68)
    for b in handshake_bytes(peer):
        conn.send(bytes([b]))
        time.sleep(1.0)
    return False


def serve_requests(peer, conn, make_block):
    """Unchokes and answers every request with make_block(index, begin, size) until closed."""
    conn.send_msg(UNCHOKE)
    while not peer.stop:
        msg_id, payload = conn.recv_msg()
        if msg_id == REQUEST:
            index, begin, size = struct.unpack(">III", payload)
            conn.send_msg(PIECE, struct.pack(">II", index, begin) + make_block(index, begin, size))


# -- scenarios: each misbehaves in exactly one way, then waits for torfs to react --------------

def huge_length_prefix(peer, conn):
    conn.send_msg(BITFIELD, peer.full_bitfield())
    conn.send(struct.pack(">I", 0xFFFFFFFF) + b"\x07" + os.urandom(64))
    conn.drain_until_closed(30)


def bitfield_wrong_length(peer, conn):
    conn.send_msg(BITFIELD, peer.full_bitfield() + b"\xff")
    conn.drain_until_closed(30)


def bitfield_spare_bits(peer, conn):
    assert peer.num_pieces % 8, "needs a piece count with spare bits"
    conn.send_msg(BITFIELD, b"\xff" * ((peer.num_pieces + 7) // 8))
    conn.drain_until_closed(30)


def have_out_of_range(peer, conn):
    conn.send_msg(HAVE, struct.pack(">I", peer.num_pieces))  # one past the last piece
    conn.drain_until_closed(30)


def request_out_of_range(peer, conn):
    """Asks torfs (which already has pieces to serve) for a block past the last piece."""
    conn.send_msg(INTERESTED)
    conn.send_msg(REQUEST, struct.pack(">III", peer.num_pieces, 0, BLOCK))
    conn.drain_until_closed(30)


def request_past_piece_end(peer, conn):
    """A block that starts inside the last piece but runs past its end."""
    last = peer.num_pieces - 1
    last_size = peer.total_size - last * peer.piece_length
    conn.send_msg(INTERESTED)
    conn.send_msg(REQUEST, struct.pack(">III", last, max(0, last_size - 16), BLOCK))
    conn.drain_until_closed(30)


def unsolicited_pieces(peer, conn):
    """Advertises nothing and never unchokes, but sprays wrong blocks for every piece, again and
    again for 20 s: torfs never asked for them, so none may reach a piece (or frame the honest
    peer that sent the rest of that piece), and the flood gets the peer dropped."""
    deadline = time.monotonic() + 20
    while not peer.stop and time.monotonic() < deadline:
        for index in range(peer.num_pieces):
            for begin in range(0, peer.piece_length, BLOCK):
                size = peer.block_size(index, begin)
                if size <= 0:
                    break
                conn.send_msg(PIECE, struct.pack(">II", index, begin) + b"\xa5" * size)
        time.sleep(0.1)
    conn.drain_until_closed(30)


def slow_seed_ignoring_cancels(peer, conn):
    """Honest but slow: has every piece, answers each request with the real bytes at about ten
    blocks a second, and ignores cancels (a cancel may always cross the block on the wire), so
    in endgame torfs receives blocks it no longer wants. Never a flood: torfs must keep it."""
    conn.send_msg(BITFIELD, peer.full_bitfield())
    conn.send_msg(UNCHOKE)
    queue = []
    lock = threading.Condition()
    conn.record.cancels_received = 0

    def reader():
        try:
            while not peer.stop:
                msg_id, payload = conn.recv_msg()
                with lock:
                    if msg_id == REQUEST:
                        queue.append(struct.unpack(">III", payload))
                        lock.notify()
                    elif msg_id == CANCEL:
                        conn.record.cancels_received += 1
        except (ConnectionError, OSError):
            with lock:
                queue.append(None)
                lock.notify()
    threading.Thread(target=reader, daemon=True).start()
    with open(peer.data_path, "rb") as f:
        while not peer.stop:
            with lock:
                while not queue:
                    lock.wait()
                item = queue.pop(0)
            if item is None:
                raise ConnectionError("closed by torfs")
            index, begin, size = item
            f.seek(index * peer.piece_length + begin)
            conn.send_msg(PIECE, struct.pack(">II", index, begin) + f.read(size))
            time.sleep(0.1)


def corrupt_blocks(peer, conn):
    """Has every piece and serves every request with wrong bytes."""
    conn.send_msg(BITFIELD, peer.full_bitfield())
    serve_requests(peer, conn, lambda i, b, n: bytes((k * 7 + i + 1) & 0xFF for k in range(n)))


def honest_seed(peer, conn):
    """Not evil at all: has every piece and serves the real bytes of `data_path` (for torrents
    no other client would seed, e.g. ones with hostile paths)."""
    conn.send_msg(BITFIELD, peer.full_bitfield())
    with open(peer.data_path, "rb") as f:
        def block(index, begin, size):
            f.seek(index * peer.piece_length + begin)
            return f.read(size)
        serve_requests(peer, conn, block)


def idle_after_handshake(peer, conn):
    """Completes the handshake, then says nothing (used for connection floods)."""
    conn.drain_until_closed(600)

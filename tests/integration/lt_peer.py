#!/usr/bin/python3
"""A libtorrent peer for tests and benchmarks: seeds or leeches one torrent on its own loopback
address and writes its state as JSON to --status every 100 ms (port, progress, uploaded, ...).

Settings follow what torfs speaks: no uTP, no DHT/LSD/UPnP unless asked (--dht), and no
protocol encryption unless asked (--encryption)."""
import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt

ENC_POLICY = {"forced": 0, "enabled": 1, "disabled": 2}  # libtorrent's enc_policy values
ENC_LEVEL = {"plaintext": 1, "rc4": 2, "both": 3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True, help="save path (directory holding the torrent's name)")
    ap.add_argument("--ip", default="127.0.0.2")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=["seed", "leech"], default="seed")
    ap.add_argument("--peer", action="append", default=[], help="IP:PORT to connect to")
    ap.add_argument("--upload-limit", type=int, default=0, help="bytes/s")
    ap.add_argument("--download-limit", type=int, default=0, help="bytes/s")
    ap.add_argument("--status", required=True)
    ap.add_argument("--no-trackers", action="store_true")
    ap.add_argument("--exit-when-done", action="store_true")
    ap.add_argument("--dht", action="store_true",
                    help="enable libtorrent's DHT with the loopback-friendly settings")
    ap.add_argument("--dht-bootstrap", default="", help="HOST:PORT[,HOST:PORT...] DHT nodes")
    ap.add_argument("--encryption", choices=["disabled", "enabled", "forced"], default="disabled",
                    help="protocol encryption (MSE/PE) policy, both directions")
    ap.add_argument("--enc-level", choices=["plaintext", "rc4", "both"], default="both",
                    help="allowed_enc_level when encryption is enabled or forced")
    args = ap.parse_args()

    settings = {
        "listen_interfaces": f"{args.ip}:{args.port}",
        "outgoing_interfaces": args.ip,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "out_enc_policy": ENC_POLICY[args.encryption],
        "in_enc_policy": ENC_POLICY[args.encryption],
        "allowed_enc_level": ENC_LEVEL[args.enc_level],
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "upload_rate_limit": args.upload_limit,
        "download_rate_limit": args.download_limit,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        "min_announce_interval": 1,
        "tracker_completion_timeout": 10,
        "user_agent": "lt_peer",
    }
    if args.dht:
        # Loopback swarms: libtorrent would otherwise refuse our local node ids and addresses.
        settings.update({
            "enable_dht": True, "dht_bootstrap_nodes": args.dht_bootstrap,
            "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False, "dht_prefer_verified_node_ids": False,
            "dht_enforce_node_id": False, "dht_announce_interval": 5,
        })
    ses = lt.session(settings)
    if args.upload_limit or args.download_limit:
        # libtorrent exempts local-network peers (the "local" peer class) from the global rate
        # limits; everything in our tests is on loopback, so limit that class too.
        local = ses.get_peer_class(lt.session.local_peer_class_id)
        local["upload_limit"] = args.upload_limit
        local["download_limit"] = args.download_limit
        ses.set_peer_class(lt.session.local_peer_class_id, local)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.save
    if args.mode == "seed":
        params.flags |= lt.torrent_flags.seed_mode
    if args.no_trackers:
        params.trackers = []
        params.ti.clear_trackers() if hasattr(params.ti, "clear_trackers") else None
    handle = ses.add_torrent(params)
    for p in args.peer:
        host, port = p.rsplit(":", 1)
        handle.connect_peer((host, int(port)))

    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))

    tmp = args.status + ".tmp"
    while not stop["now"]:
        ses.pop_alerts()
        s = handle.status()
        state = {
            "port": ses.listen_port(),
            "progress": s.progress,
            "seeding": s.is_seeding,
            "uploaded": s.all_time_upload,
            "downloaded": s.all_time_download,
            "total_payload_upload": s.total_payload_upload,
            "total_payload_download": s.total_payload_download,
            "num_peers": s.num_peers,
            "state": str(s.state),
            "errc": s.errc.message() if s.errc.value() else "",
        }
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, args.status)
        if args.exit_when_done and s.is_seeding:
            break
        time.sleep(0.1)
    handle.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())

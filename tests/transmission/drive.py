"""Drives Magnetar's /transmission/rpc with the `transmission-rpc` library (PyPI), as a script
written for Transmission would: add by magnet and by metainfo into a chosen folder with a label,
wait for completion with torrent-get, set a ratio limit, remove with data. Prints one JSON line
of what it saw, for tests/transmission_rpc.rs to check."""

import base64
import json
import sys
import time

from transmission_rpc import Client

port, folder, magnet, torrent_path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
client = Client(host="127.0.0.1", port=int(port), username="anyone", password="unused")
seen = {"version": client.get_session().version}

by_magnet = client.add_torrent(magnet, download_dir=folder, labels=["tv"])
with open(torrent_path, "rb") as f:
    by_file = client.add_torrent(f.read(), download_dir=folder, labels=["tv"])
seen["ids"] = [by_magnet.id, by_file.id]

deadline = time.time() + 120
while True:
    torrents = [client.get_torrent(by_magnet.id), client.get_torrent(by_file.id)]
    if all(t.percent_done == 1.0 for t in torrents):
        break
    if time.time() > deadline:
        raise SystemExit(f"not complete in time: {[t.percent_done for t in torrents]}")
    time.sleep(0.3)
seen["names"] = [t.name for t in torrents]
seen["labels"] = [t.labels for t in torrents]
seen["dirs"] = [t.download_dir for t in torrents]
seen["status"] = [str(t.status) for t in torrents]

client.change_torrent(by_file.id, seed_ratio_limit=2.5, seed_ratio_mode=1)
t = client.get_torrent(by_file.id)
seen["ratio"] = [t.seed_ratio_limit, int(t.seed_ratio_mode)]

client.remove_torrent([by_magnet.id, by_file.id], delete_data=True)
seen["left"] = [t.id for t in client.get_torrents()]
print(json.dumps(seen))

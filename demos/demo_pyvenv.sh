#!/bin/bash
# PARAMS: name, comment
# PORTS: 2
# A Python app with a slow install: a virtualenv with bottle from PyPI (about
# 10 s), run on an inner loopback port (PORT2, its second port) behind an Apache vhost on
# the demo's port. Its settings are written by ./configure.sh, which its
# reconfigure step (reconfigure_pyvenv.sh) runs again in a clone's copy, so a
# second copy takes seconds, not the install's time.
set -euo pipefail
python3 -m venv venv
venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir 'bottle==0.13.*'
mkdir -p app
cat > app/main.py <<'PY'
"""The demo app: one page saying which demo it is, read from settings.json."""
import json
import pathlib

import bottle

here = pathlib.Path(__file__).resolve().parent.parent
settings = json.loads((here / "settings.json").read_text())


@bottle.route("/")
def index():
    return f"<!doctype html><title>{settings['name']}</title><h1>{settings['name']}</h1><p>{settings['comment']}</p>"


bottle.run(host="127.0.0.1", port=settings["inner_port"], quiet=True)
PY
cat > configure.sh <<'SH'
#!/bin/bash
# Writes every file that names this demo or its ports, from name, PORT, HOST
# and comment: at deploy, and again in a clone's copy.
set -euo pipefail
inner=${PORT2}
python3 - "$name" "$inner" "${comment:-}" <<'PY'
import json, sys
name, inner, comment = sys.argv[1], int(sys.argv[2]), sys.argv[3]
json.dump({"name": name, "inner_port": inner, "comment": comment}, open("settings.json", "w"))
PY
cat > start.sh <<START
#!/bin/sh
exec "${PWD}/venv/bin/python" "${PWD}/app/main.py"
START
cat > apache2.conf <<CONF
Listen ${PORT}
<VirtualHost *:${PORT}>
    ServerName ${HOST}
    ProxyPreserveHost On
    ProxyPass / http://127.0.0.1:${inner}/ retry=0
    ProxyPassReverse / http://127.0.0.1:${inner}/
</VirtualHost>
CONF
echo "app ${name}: bottle on 127.0.0.1:${inner}, public port ${PORT}"
SH
bash ./configure.sh

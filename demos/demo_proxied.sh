#!/bin/bash
# PARAMS: name, comment
# PORTS: 2
# An app behind Apache: a process on an inner port (PORT2, its second port,
# loopback only), and a virtual host on the demo's port proxying to it.
set -euo pipefail
inner=${PORT2}
mkdir -p www
cat > www/index.html <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>${name}</title></head>
<body><h1>${name}</h1><p>An app on 127.0.0.1:${inner}, reached through Apache on port ${PORT}.</p></body></html>
HTML
cat > start.sh <<SH
#!/bin/sh
exec python3 -m http.server ${inner} --bind 127.0.0.1 --directory "${PWD}/www"
SH
cat > apache2.conf <<CONF
Listen ${PORT}
<VirtualHost *:${PORT}>
    ServerName ${HOST}
    ProxyPreserveHost On
    ProxyPass / http://127.0.0.1:${inner}/ retry=0
    ProxyPassReverse / http://127.0.0.1:${inner}/
</VirtualHost>
CONF
echo "app ${name}: inner port ${inner}, public port ${PORT}"

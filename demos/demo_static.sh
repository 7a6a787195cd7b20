#!/bin/bash
# PARAMS: name, comment, title
# A static site served by the shared Apache on the demo's port.
set -euo pipefail
title=${title:-$name}
mkdir -p www
cat > www/index.html <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1><p>Demo <b>${name}</b>, served by showroom's Apache on port ${PORT}.</p>
<p>${comment:-}</p></body></html>
HTML
cat > apache2.conf <<CONF
Listen ${PORT}
<VirtualHost *:${PORT}>
    ServerName ${HOST}
    DocumentRoot ${PWD}/www
    <Directory ${PWD}/www>
        Require all granted
    </Directory>
</VirtualHost>
CONF
echo "static site ${name} ready: http://${HOST}:${PORT}/"

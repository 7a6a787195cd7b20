#!/bin/bash
# PARAMS: name, comment
# A process-only app: Python's http.server on the demo's port, run by supervisord.
set -euo pipefail
mkdir -p www
cat > www/index.html <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>${name}</title></head>
<body><h1>${name}</h1><p>Served by python3 -m http.server on port ${PORT}.</p></body></html>
HTML
cat > start.sh <<SH
#!/bin/sh
# exec: supervisord then watches python itself, not a shell around it.
exec python3 -m http.server ${PORT} --bind 0.0.0.0 --directory "${PWD}/www"
SH
echo "python app ${name} will listen on port ${PORT}"

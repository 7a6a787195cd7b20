#!/bin/bash
# The reconfigure step of `proxied` (see README.md, "Clones"): run in a copy of
# OLD_NAME's folder, it moves the copy to its own name and ports by rewriting
# the three files that name them.
set -euo pipefail
# A copy of a demo deployed before `# PORTS: 2` had its inner port at PORT + 10000.
old_inner=${OLD_PORT2:-$((OLD_PORT + 10000))}
inner=${PORT2}
# The inner port first: the public one is never a part of it, but a name could be.
sed -i -e "s/\b${old_inner}\b/${inner}/g" -e "s/\b${OLD_PORT}\b/${PORT}/g" start.sh apache2.conf www/index.html
sed -i -e "s/\b${OLD_NAME}\b/${name}/g" www/index.html
# start.sh names its folder by absolute path.
sed -i -e "s#/demos/${OLD_NAME}/#/demos/${name}/#g" start.sh
echo "app ${name} (a copy of ${OLD_NAME}): inner port ${inner}, public port ${PORT}"

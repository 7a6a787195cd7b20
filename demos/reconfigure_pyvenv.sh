#!/bin/bash
# The reconfigure step of `pyvenv` (see README.md, "Clones"): the copy's
# virtualenv works where it is (its python is found through pyvenv.cfg beside
# it), so only the settings that name the demo and its ports are written again.
set -euo pipefail
echo "reconfiguring a copy of ${OLD_NAME} (port ${OLD_PORT}) as ${name} (port ${PORT})"
bash ./configure.sh

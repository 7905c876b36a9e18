#!/bin/sh
# Install the Debian packages a make target needs, when they are missing: as root with apt-get,
# or else say in one line what to run.
# usage: scripts/ensure-packages.sh WHAT FILE=PACKAGE ...
#   FILE is a command looked up on PATH, or an absolute path that must exist.
set -eu
what=$1
shift
missing=""
for spec in "$@"; do
    file=${spec%%=*}
    pkg=${spec#*=}
    case $file in
        /*) [ -e "$file" ] && continue ;;
        *) command -v "$file" >/dev/null 2>&1 && continue ;;
    esac
    case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$what: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -q >&2 && apt-get install -y -q --no-install-recommends $missing >&2; then
        exit 0
    fi
    echo "$what: apt-get could not install$missing (see above)" >&2
    exit 1
fi
echo "$what needs$missing: run  sudo apt-get install$missing" >&2
exit 1

#!/usr/bin/env bash
# Copy the spot-check corpus out of Debian's /usr/share/doc into DIR (default: corpus/ here).
# The files belong to their packages and keep their licences there; nothing is committed.
set -euo pipefail
out="${1:-$(dirname "$0")/corpus}"
mkdir -p "$out"
doc=/usr/share/doc
copy() { # SOURCE NAME PACKAGE
    if [ ! -e "$doc/$1" ]; then
        echo "missing $doc/$1 (apt-get install $3)" >&2
        return 1
    fi
    case "$1" in
        *.gz) zcat "$doc/$1" > "$out/$2" ;;
        *) cp "$doc/$1" "$out/$2" ;;
    esac
}
status=0
copy zlib1g-dev/FAQ.gz zlib-faq.txt zlib1g-dev || status=1
copy xz-utils/faq.txt.gz xz-faq.txt xz-utils || status=1
copy valgrind/FAQ.txt.gz valgrind-faq.txt valgrind || status=1
copy bzip2/manual.html bzip2-manual.html bzip2-doc || status=1
copy time/time.html time.html time || status=1
copy base-files/FAQ base-files-faq.txt base-files || status=1
copy nodejs/BUILDING.md node-building.md nodejs || status=1
copy nodejs/README.md node-readme.md nodejs || status=1
copy base-passwd/users-and-groups.html users-and-groups.html base-passwd || status=1
copy gnupg/FAQ gnupg-faq.txt gnupg || status=1
copy sed/BUGS.gz sed-bugs.txt sed || status=1
copy sed/NEWS.gz sed-news.txt sed || status=1
copy zstd/README.md.gz zstd-readme.md zstd || status=1
copy procps/bugs.md procps-bugs.md procps || status=1
copy dpkg/spec/triggers.txt dpkg-triggers.txt dpkg || status=1
copy libffi8/html/Thread-Safety.html ffi-thread-safety.html libffi8 || status=1
copy libffi8/html/Memory-Usage.html ffi-memory-usage.html libffi8 || status=1
copy coreutils/README.gz coreutils-readme.txt coreutils || status=1
copy chromium/README.Debian chromium-readme-debian.txt chromium || status=1
copy zlib1g-dev/examples/zlib_how.html zlib-how.html zlib1g-dev || status=1
copy libasound2/examples/asoundrc.txt asoundrc.txt libasound2 || status=1
echo "corpus: $out ($(ls "$out" | wc -l) files)"
exit "$status"

#!/bin/sh
# Gathers this image's agent-server, and everything it needs to run, into /opt/openhands-lsp/agent: run by
# openhands-lsp as root in a throwaway container of the agent-server image (no network), which then copies that
# folder into a project's own image (see project_image.rs). Arguments: the image's entrypoint.
#
# The bundle runs on any glibc-based x86_64 Linux, whatever its own libraries: a Python agent-server (a venv, or a
# Python with its packages) and tmux are started through the agent image's own dynamic loader with the agent image's
# libraries (`ld.so --library-path`), so nothing of them leaks into the agent's commands, which run the project's
# own toolchain with the project image's libraries. A self-contained binary agent-server (the upstream image's
# PyInstaller build) runs as it is and needs the glibc it was built for (`needs-glibc`).
#
# Prints `kind python|binary`, `needs-glibc X.Y` (binary only) and `size KB`; writes $B/.complete last.
set -eu
B=/opt/openhands-lsp/agent
LOADER_NAME=ld-linux-x86-64.so.2
fail() { printf '%s\n' "$*" >&2; exit 3; }

[ $# -ge 1 ] || fail "the image has no entrypoint: it must start the agent-server"
# Emptied, not removed: $B is the volume's mount point.
mkdir -p "$B"
find "$B" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
mkdir -p "$B/lib" "$B/bin" "$B/path"

# Copies a path into the bundle, under its own absolute path.
keep() { cp -a --parents "$1" "$B/"; }
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | tr -dc 'A-Z')" = "ELF" ]; }
# The shared libraries ELF files need (the loader included), each copied once into $B/lib under its own name.
keep_libs() {
  for f in "$@"; do ldd "$f" 2>/dev/null || true; done |
    sed -n 's/.*=> \(\/[^ ]*\) (.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' | sort -u |
    while read -r lib; do
      name=$(basename "$lib")
      [ -e "$B/lib/$name" ] || cp -L "$lib" "$B/lib/$name"
    done
}
# A script that runs PROGRAM through the bundle's loader and libraries, with ARGV0 as its name.
loader_wrapper() { # OUT ARGV0 PROGRAM
  cat >"$1" <<EOF
#!/bin/sh
exec $B/lib/$LOADER_NAME --library-path $B/lib --argv0 "$2" "$3" "\$@"
EOF
  chmod 755 "$1"
}

entry=$1
shift
real=$(readlink -f "$entry") || fail "the entrypoint $entry is not in the image"
[ -f "$real" ] || fail "the entrypoint $entry is not in the image"

python=""
script=""
case $(basename "$real") in
  python*) python=$entry ;;
  *)
    if is_elf "$real"; then
      keep "$real"
      keep_libs "$real"
      printf '#!/bin/sh\nexec %s "$@"\n' "$B$real" >"$B/bin/agent-server"
      echo "kind binary"
      needs=$(grep -ao 'GLIBC_2\.[0-9]*' "$real" | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -1)
      # Checked against each project image's own glibc before a conversation starts in it.
      echo "${needs:-2.17}" >"$B/.needs-glibc"
      echo "needs-glibc ${needs:-2.17}"
    else
      # A script: its interpreter runs it.
      interp=$(head -n 1 "$real" | sed -n 's/^#![[:space:]]*\([^[:space:]]*\).*/\1/p')
      [ -n "$interp" ] || fail "the entrypoint $entry is neither a program nor a script"
      python=$interp
      script=$real
    fi
    ;;
esac

if [ -n "$python" ]; then
  pyreal=$(readlink -f "$python")
  # Where this Python keeps its standard library and packages: every existing folder of sys.path.
  "$python" -c 'import sys; print(sys.prefix); print(sys.base_prefix); [print(p) for p in sys.path if p]' >/tmp/py-paths \
    || fail "the agent-server's Python ($python) does not run"
  prefix=$(sed -n 1p /tmp/py-paths)
  base_prefix=$(sed -n 2p /tmp/py-paths)
  keep "$pyreal"
  sed -n '3,$p' /tmp/py-paths | while read -r p; do [ -d "$p" ] && keep "$p"; done
  pywrap=$B/bin/python
  if [ "$prefix" != "$base_prefix" ]; then
    # A venv: it finds its base Python in the bundle, and its `python` names are the bundle's.
    keep "$prefix"
    sed -i "s|^home *=.*|home = $B$(dirname "$pyreal")|" "$B$prefix/pyvenv.cfg"
    for f in "$B$prefix"/bin/python*; do
      [ -L "$f" ] || continue
      rm "$f"
      loader_wrapper "$f" "$f" "$B$pyreal"
    done
    pywrap="$B$prefix/bin/$(basename "$python")"
    [ -x "$pywrap" ] || loader_wrapper "$pywrap" "$pywrap" "$B$pyreal"
  else
    loader_wrapper "$pywrap" "$B$pyreal" "$B$pyreal"
  fi
  [ -z "$script" ] || keep "$script"
  {
    echo '#!/bin/sh'
    printf 'exec %s' "$pywrap"
    [ -z "$script" ] || printf ' %s' "$B$script"
    for a in "$@"; do printf " '%s'" "$a"; done
    echo ' "$@"'
  } >"$B/bin/agent-server"
  # The loader and the libraries of Python and of every extension module it may load.
  find "$B" -type f \( -name '*.so' -o -name '*.so.*' \) >/tmp/so-files
  keep_libs "$pyreal" $(cat /tmp/so-files)
  echo "kind python"
fi
chmod 755 "$B/bin/agent-server"

# tmux, which the agent's terminal runs in, through the bundle's loader: at the end of PATH, after the project's own.
if tmux=$(command -v tmux); then
  keep_libs "$tmux"
  mkdir -p "$B/libexec"
  cp -L "$tmux" "$B/libexec/tmux"
  loader_wrapper "$B/path/tmux" tmux "$B/libexec/tmux"
fi
[ -e "$B/lib/$LOADER_NAME" ] || cp -L "/lib64/$LOADER_NAME" "$B/lib/$LOADER_NAME" 2>/dev/null || true
echo "size $(du -sk "$B" | cut -f1)"
# Last: a bundle without it was cut short and is made again.
touch "$B/.complete"

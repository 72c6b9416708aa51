#!/usr/bin/env bash
# Install Neovim from this machine's Debian packages without root, for the
# editor end-to-end test of `pybun lsp` (frontends/pybun-cli/tests/lsp_nvim.rs).
#
# Downloads the `neovim` .deb and those of its dependencies that are not
# installed (from the apt sources of this machine, i.e. deb.debian.org for
# its release), extracts them with `dpkg-deb -x` into a cache directory and
# writes a wrapper `bin/nvim` that sets LD_LIBRARY_PATH and VIMRUNTIME.
#
#   scripts/fetch-nvim.sh            # -> ${XDG_CACHE_HOME:-~/.cache}/pybun-nvim/bin/nvim
#   PYBUN_NVIM_DIR=/some/dir scripts/fetch-nvim.sh
set -euo pipefail

dest="${PYBUN_NVIM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pybun-nvim}"
if [ -x "$dest/bin/nvim" ] && "$dest/bin/nvim" --version >/dev/null 2>&1; then
    echo "nvim already in $dest/bin/nvim"
    exit 0
fi
for tool in apt-get apt-cache dpkg-deb dpkg; do
    command -v "$tool" >/dev/null || { echo "fetch-nvim: needs $tool (a Debian-based system)" >&2; exit 1; }
done
. /etc/os-release
echo "fetch-nvim: Debian ${VERSION_CODENAME:-?}, into $dest"

debs="$dest/debs"
root="$dest/root"
mkdir -p "$debs" "$root" "$dest/bin"

# neovim and its whole dependency closure, minus what is installed already.
packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances neovim | grep -E '^[a-z0-9]' | sort -u)
wanted=()
for package in $packages; do
    if [ "$package" = neovim ] || [ "$package" = neovim-runtime ] \
        || ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
        wanted+=("$package")
    fi
done
echo "fetch-nvim: downloading ${wanted[*]}"
(cd "$debs" && apt-get download "${wanted[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$root"
done

arch_dir=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu")
cat > "$dest/bin/nvim" <<WRAPPER
#!/bin/sh
root="$root"
export LD_LIBRARY_PATH="\$root/usr/lib/$arch_dir:\$root/lib/$arch_dir:\$root/usr/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export VIMRUNTIME="\$root/usr/share/nvim/runtime"
exec "\$root/usr/bin/nvim" "\$@"
WRAPPER
chmod +x "$dest/bin/nvim"
"$dest/bin/nvim" --version | head -1
echo "fetch-nvim: $dest/bin/nvim"

#!/bin/sh
# install.sh installs or upgrades linehub as a systemd service on
# Debian/Ubuntu. Run it as root from a linehub checkout:
#
#   sudo ./install.sh --domain line.example.com --email ops@example.com
#
# Re-running it upgrades the binary and unit and keeps the configuration
# and data. See ./install.sh --help.
set -eu

usage() {
	cat <<'EOF'
Usage: install.sh [options]

Installs linehub as the systemd service "linehub", or upgrades it.

  --domain NAME     public DNS name; linehub gets HTTPS certificates for it
                    (ports 80 and 443 must reach this server)
  --email ADDR      contact address for the certificate authority
  --binary PATH     install this linehub binary instead of building one
                    (building needs the Go toolchain and this checkout)
  --prefix DIR      where the binary goes, DIR/bin/linehub (default /usr/local)
  --root DIR        install into DIR as a filesystem root (for images and
                    tests): no user is created, nothing is started
  --no-start        install but do not enable or start the service
  --uninstall       stop and remove the service and binary; keeps
                    /etc/linehub and /var/lib/linehub
  --purge           with --uninstall: also delete configuration, data
                    (the database and certificates) and the linehub user
  -y, --yes         do not ask questions (also when stdin is not a terminal)
  -h, --help        show this help

Files: /etc/linehub/config.yaml (root:linehub 0640), /var/lib/linehub
(linehub 0700: database, secret key, certificates), the unit
/etc/systemd/system/linehub.service. Logs: journalctl -u linehub.
EOF
}

die() {
	echo "install.sh: $*" >&2
	exit 1
}

say() {
	echo "==> $*"
}

domain=""
email=""
binary=""
prefix="/usr/local"
root=""
start=1
uninstall=0
purge=0
ask=1

while [ $# -gt 0 ]; do
	case "$1" in
	--domain) [ $# -ge 2 ] || die "--domain needs a value"; domain="$2"; shift 2 ;;
	--domain=*) domain="${1#*=}"; shift ;;
	--email) [ $# -ge 2 ] || die "--email needs a value"; email="$2"; shift 2 ;;
	--email=*) email="${1#*=}"; shift ;;
	--binary) [ $# -ge 2 ] || die "--binary needs a value"; binary="$2"; shift 2 ;;
	--binary=*) binary="${1#*=}"; shift ;;
	--prefix) [ $# -ge 2 ] || die "--prefix needs a value"; prefix="$2"; shift 2 ;;
	--prefix=*) prefix="${1#*=}"; shift ;;
	--root) [ $# -ge 2 ] || die "--root needs a value"; root="$2"; shift 2 ;;
	--root=*) root="${1#*=}"; shift ;;
	--no-start) start=0; shift ;;
	--uninstall) uninstall=1; shift ;;
	--purge) purge=1; shift ;;
	-y | --yes) ask=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

if [ "$purge" = 1 ] && [ "$uninstall" = 0 ]; then
	die "--purge only goes with --uninstall"
fi
case "$prefix" in
/*) ;;
*) die "--prefix must be an absolute path" ;;
esac
if [ -n "$root" ]; then
	[ -d "$root" ] || die "--root $root is not a directory"
	root=$(cd "$root" && pwd)
	# An alternate root is an image being prepared: nothing runs in it.
	start=0
fi

src_dir=$(cd "$(dirname "$0")" && pwd)
bin_path="$prefix/bin/linehub"
conf_dir="/etc/linehub"
conf_file="$conf_dir/config.yaml"
data_dir="/var/lib/linehub"
unit_file="/etc/systemd/system/linehub.service"
user="linehub"

# live is 1 when installing onto the running system (not --root), where
# users, ownership and systemd are real.
live=0
[ -z "$root" ] && live=1

if [ "$live" = 1 ] && [ "$(id -u)" != 0 ]; then
	die "run as root (sudo ./install.sh ...), or use --root DIR to install into a directory"
fi
if [ "$live" = 1 ] && [ "$start" = 1 ] && ! command -v systemctl >/dev/null 2>&1; then
	die "systemctl not found: this script is for systemd systems (or pass --no-start)"
fi

# ---------------------------------------------------------------- uninstall
if [ "$uninstall" = 1 ]; then
	if [ "$live" = 1 ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now linehub.service >/dev/null 2>&1 || true
	fi
	rm -f "$root$unit_file" "$root$bin_path"
	if [ "$live" = 1 ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
	fi
	say "removed the service and $bin_path"
	if [ "$purge" = 1 ]; then
		rm -rf "$root$conf_dir" "$root$data_dir"
		if [ "$live" = 1 ] && id "$user" >/dev/null 2>&1; then
			userdel "$user" || true
		fi
		say "deleted $conf_dir, $data_dir and the $user user"
	else
		say "kept $conf_dir and $data_dir (delete them with --uninstall --purge)"
	fi
	exit 0
fi

# ---------------------------------------------------------------- questions
conf_exists=0
[ -f "$root$conf_file" ] && conf_exists=1
if [ "$conf_exists" = 0 ] && [ "$ask" = 1 ] && [ -t 0 ]; then
	if [ -z "$domain" ]; then
		printf 'Public domain name for HTTPS (empty: plain HTTP on 127.0.0.1:8080 for your own TLS proxy): '
		read -r domain
	fi
	if [ -n "$domain" ] && [ -z "$email" ]; then
		printf 'Email for certificate expiry notices (optional): '
		read -r email
	fi
fi
case "$domain" in
*[!A-Za-z0-9.-]*) die "--domain must be a bare DNS name such as line.example.com" ;;
esac
case "$email" in
*[!A-Za-z0-9.@_+-]*) die "--email must be a plain address such as ops@example.com" ;;
esac

# ---------------------------------------------------------------- binary
tmpdir=$(mktemp -d)
trap 'rm -rf "$tmpdir"' EXIT INT TERM

if [ -n "$binary" ]; then
	[ -f "$binary" ] || die "--binary $binary does not exist"
	cp "$binary" "$tmpdir/linehub"
else
	[ -f "$src_dir/go.mod" ] || die "no Go module next to install.sh: run it from a linehub checkout or pass --binary PATH"
	go_cmd=""
	if command -v go >/dev/null 2>&1; then
		go_cmd=go
	elif [ -x /usr/local/go/bin/go ]; then
		go_cmd=/usr/local/go/bin/go
	fi
	[ -n "$go_cmd" ] || die "the Go toolchain is not installed: install it (https://go.dev/dl/) or pass --binary PATH"
	version=$(git -C "$src_dir" describe --tags --always --dirty 2>/dev/null || echo dev)
	say "building linehub $version"
	(cd "$src_dir" && CGO_ENABLED=1 "$go_cmd" build -trimpath -ldflags "-s -w -X main.version=$version" -o "$tmpdir/linehub" .) ||
		die "go build failed (linehub needs cgo: apt-get install gcc)"
fi
chmod 0755 "$tmpdir/linehub"

# install_file SRC DEST MODE copies only when the content differs, so a
# re-run with the same build leaves the file (and its mtime) alone.
install_file() {
	if [ -f "$2" ] && cmp -s "$1" "$2"; then
		chmod "$3" "$2"
		return 1
	fi
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.new"
	chmod "$3" "$2.new"
	mv -f "$2.new" "$2"
	return 0
}

# ---------------------------------------------------------------- user
if [ "$live" = 1 ] && ! id "$user" >/dev/null 2>&1; then
	useradd --system --user-group --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin \
		--comment "linehub service" "$user"
	say "created system user $user"
fi

# ---------------------------------------------------------------- files
binary_changed=0
if install_file "$tmpdir/linehub" "$root$bin_path" 0755; then
	binary_changed=1
	say "installed $bin_path"
else
	say "$bin_path is unchanged"
fi

mkdir -p "$root$data_dir"
chmod 0700 "$root$data_dir"
[ "$live" = 1 ] && chown "$user:$user" "$root$data_dir"

mkdir -p "$root$conf_dir"
chmod 0750 "$root$conf_dir"
[ "$live" = 1 ] && chown "root:$user" "$root$conf_dir"
if [ "$conf_exists" = 1 ]; then
	say "kept $conf_file"
	if [ -n "$domain$email" ]; then
		say "note: --domain/--email only apply to a new configuration; edit $conf_file to change them"
	fi
else
	[ -f "$src_dir/config.example.yaml" ] || die "config.example.yaml is missing next to install.sh"
	# Without a domain linehub speaks plain HTTP: the setup link, the admin
	# password and session cookies must not cross the network that way, so
	# it listens on loopback only, for a TLS reverse proxy on this host.
	listen=":8080"
	[ -z "$domain" ] && listen="127.0.0.1:8080"
	# Values are quoted YAML strings; the checks above keep quotes out.
	sed -e "s|^domain: \"\"|domain: \"$domain\"|" \
		-e "s|^  email: \"\"|  email: \"$email\"|" \
		-e "s|^data_dir: .*|data_dir: \"$data_dir\"|" \
		-e "s|^listen: .*|listen: \"$listen\"|" \
		"$src_dir/config.example.yaml" >"$tmpdir/config.yaml"
	grep -q "^data_dir: \"$data_dir\"" "$tmpdir/config.yaml" || die "config.example.yaml has no data_dir line to set"
	grep -q "^listen: \"$listen\"" "$tmpdir/config.yaml" || die "config.example.yaml has no listen line to set"
	cp "$tmpdir/config.yaml" "$root$conf_file"
	chmod 0640 "$root$conf_file"
	[ "$live" = 1 ] && chown "root:$user" "$root$conf_file"
	say "wrote $conf_file"
	if [ -z "$domain" ]; then
		say "no domain: linehub listens for plain HTTP on 127.0.0.1:8080 only; run it behind a reverse proxy that terminates TLS"
	fi
fi

cat >"$tmpdir/linehub.service" <<EOF
[Unit]
Description=linehub: LINE Official Accounts to HubSpot
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$user
Group=$user
ExecStart=$bin_path serve --config $conf_file
WorkingDirectory=$data_dir
Restart=on-failure
RestartSec=5s
# linehub finishes in-flight webhooks and the HubSpot batch on SIGTERM.
TimeoutStopSec=60s
UMask=0077
LimitNOFILE=65536

# Ports 80 and 443 without root.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes

# Read-only system; only the data directory is writable.
ProtectSystem=strict
ReadWritePaths=$data_dir
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
# No AF_NETLINK: the start-up check of the domain then cannot list this
# host's addresses and says so instead of comparing.
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
ProcSubset=pid
PrivateMounts=yes
RemoveIPC=yes
# No PrivateUsers=: in a user namespace CAP_NET_BIND_SERVICE no longer
# opens ports 80 and 443 of the host's network.

[Install]
WantedBy=multi-user.target
EOF
unit_changed=0
if install_file "$tmpdir/linehub.service" "$root$unit_file" 0644; then
	unit_changed=1
	say "wrote $unit_file"
else
	say "$unit_file is unchanged"
fi

if [ "$live" = 0 ] || [ "$start" = 0 ]; then
	if [ -n "$root" ]; then
		say "installed into $root; enable it there with: systemctl --root=$root enable linehub"
	else
		say "installed; start it with: systemctl enable --now linehub"
	fi
	exit 0
fi

# ---------------------------------------------------------------- start
since=$(date '+%Y-%m-%d %H:%M:%S')
if [ "$unit_changed" = 1 ]; then
	systemctl daemon-reload
fi
systemctl enable --quiet linehub.service
started=1
if systemctl is-active --quiet linehub.service; then
	if [ "$binary_changed" = 1 ] || [ "$unit_changed" = 1 ]; then
		say "restarting linehub"
		systemctl restart linehub.service
	else
		started=0
		say "linehub is running and nothing changed; not restarted"
	fi
else
	say "starting linehub"
	systemctl start linehub.service
fi

# A start logs a one-time setup link while nobody has set linehub up; show
# it, so nobody has to dig through the journal. Once linehub logs that it
# listens, the link would already be there.
link=""
if [ "$started" = 1 ]; then
	i=0
	listening=0
	while [ $i -lt 30 ]; do
		sleep 1
		if ! systemctl is-active --quiet linehub.service; then
			echo "install.sh: linehub did not stay up; its last log lines:" >&2
			journalctl -u linehub.service --since "$since" -n 30 --no-pager -o cat >&2 || true
			exit 1
		fi
		log=$(journalctl -u linehub.service --since "$since" --no-pager -o cat 2>/dev/null || true)
		link=$(printf '%s\n' "$log" | grep -o '[^ "=]*/setup?token=[^ "]*' | tail -n 1 || true)
		[ -n "$link" ] && break
		[ "$listening" = 1 ] && break
		case "$log" in
		*msg=listening* | *'"msg":"listening"'*) listening=1 ;;
		esac
		i=$((i + 1))
	done
fi

say "linehub is running (journalctl -u linehub -f for its log)"
if [ -n "$link" ]; then
	echo
	echo "    Finish the setup in your browser (the link works once, for 30 minutes):"
	echo "    $link"
	echo
elif [ "$started" = 1 ]; then
	say "no setup link in the log (already set up?)"
fi
if grep -q '^domain: "[^"]' "$conf_file" 2>/dev/null; then
	say "make sure DNS for the domain points here and ports 80 and 443 are open (ufw allow 80,443/tcp)"
else
	say "no domain set: linehub serves plain HTTP on the listen address (127.0.0.1:8080 unless changed); run it behind a reverse proxy that terminates TLS"
fi

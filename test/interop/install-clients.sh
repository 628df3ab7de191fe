#!/usr/bin/env bash
# Installs the real syslog clients the interop tests run: rsyslog (+ GnuTLS and OpenSSL drivers)
# and syslog-ng. Debian's rsyslog and syslog-ng-core conflict (both provide system-log-daemon),
# so `apt-get install` can hold only one of them: the other is unpacked under /opt with
# `dpkg-deb -x`, and its libraries are installed with apt. The tests find either form
# (test/interop/harness/binaries.ts). No service is started (policy-rc.d) and nothing is configured
# system-wide: the tests run their own foreground copies.
#
# Idempotent; run as root. Usage: test/interop/install-clients.sh
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

RSYSLOG_LIBS=(libestr0 libfastjson4 liblognorm5 libuuid1 libzstd1 zlib1g libsystemd0 libgnutls30 libssl3)
SYSLOG_NG_LIBS=(libivykis0 libnet1 libwrap0 libpcre3 libjson-c5 libglib2.0-0 libcap2 libssl3 libsystemd0)

# Both TLS drivers: an rsyslog installed without rsyslog-openssl (for another purpose) would make the
# OpenSSL-driver test skip, so it counts as not installed and apt adds the missing package.
have_rsyslog() {
  { command -v rsyslogd >/dev/null && ls /usr/lib/*/rsyslog/lmnsd_gtls.so /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1; } ||
    [ -x /opt/rsyslog/usr/sbin/rsyslogd ]
}
have_syslog_ng() { command -v syslog-ng >/dev/null || [ -x /opt/syslog-ng/usr/sbin/syslog-ng ]; }
# omrelp (package rsyslog-relp) for test/interop/relp.test.ts, beside whichever rsyslog is there.
have_omrelp() { compgen -G '/usr/lib/*/rsyslog/omrelp.so' >/dev/null || compgen -G '/opt/rsyslog/usr/lib/*/rsyslog/omrelp.so' >/dev/null; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

unpack() { # unpack DEST PKG...
  local dest=$1; shift
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && chmod 777 . && apt-get download "$@" >/dev/null)
  mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dest"; done
  rm -rf "$tmp"
}

if have_rsyslog && have_syslog_ng && have_omrelp; then exit 0; fi

apt-get update -qq
no_services=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  no_services=1
fi
trap 'if [ $no_services = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT

if ! have_rsyslog; then
  if installed syslog-ng-core; then
    echo "install-clients: syslog-ng-core is installed; unpacking rsyslog into /opt/rsyslog"
    apt-get install -y -qq --no-install-recommends "${RSYSLOG_LIBS[@]}" >/dev/null
    apt-get install -y -qq --no-install-recommends librelp0 >/dev/null
    unpack /opt/rsyslog rsyslog rsyslog-gnutls rsyslog-openssl rsyslog-relp
  else
    echo "install-clients: apt-get install rsyslog rsyslog-gnutls rsyslog-openssl rsyslog-relp"
    apt-get install -y -qq --no-install-recommends rsyslog rsyslog-gnutls rsyslog-openssl rsyslog-relp >/dev/null
  fi
fi
if ! have_omrelp; then
  if [ -x /opt/rsyslog/usr/sbin/rsyslogd ]; then
    apt-get install -y -qq --no-install-recommends librelp0 >/dev/null
    unpack /opt/rsyslog rsyslog-relp
  else
    echo "install-clients: apt-get install rsyslog-relp"
    apt-get install -y -qq --no-install-recommends rsyslog-relp >/dev/null
  fi
fi

if ! have_syslog_ng; then
  if installed rsyslog; then
    echo "install-clients: rsyslog is installed; unpacking syslog-ng-core into /opt/syslog-ng"
    apt-get install -y -qq --no-install-recommends "${SYSLOG_NG_LIBS[@]}" >/dev/null
    unpack /opt/syslog-ng syslog-ng-core
  else
    echo "install-clients: apt-get install syslog-ng-core"
    apt-get install -y -qq --no-install-recommends syslog-ng-core >/dev/null
  fi
fi
command -v openssl >/dev/null || apt-get install -y -qq --no-install-recommends openssl >/dev/null

package server

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// DNSReport is what the domain resolves to, compared with this host.
type DNSReport struct {
	Domain string
	// Addrs are the domain's A/AAAA records.
	Addrs []net.IP
	// Local are the addresses of this host's interfaces.
	Local []net.IP
	Err   error
	// LocalErr says why this host's addresses could not be listed (the
	// systemd unit allows no netlink sockets, which listing them needs).
	LocalErr error
}

// OK says whether one of the domain's addresses is on this host, or, when
// this host's addresses cannot be listed, that the domain resolves at all.
func (r DNSReport) OK() bool {
	if r.Err != nil || len(r.Addrs) == 0 {
		return false
	}
	return r.LocalErr != nil || len(r.matches()) > 0
}

func (r DNSReport) matches() []net.IP {
	var m []net.IP
	for _, a := range r.Addrs {
		if slices.ContainsFunc(r.Local, a.Equal) {
			m = append(m, a)
		}
	}
	return m
}

// Problem explains a failed check in words an operator can act on.
func (r DNSReport) Problem() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s does not resolve (%v); create an A (and AAAA) record pointing at this server's public address", r.Domain, r.Err)
	case len(r.Addrs) == 0:
		return fmt.Sprintf("%s has no A or AAAA record; create one pointing at this server's public address", r.Domain)
	case !r.OK():
		return fmt.Sprintf("%s resolves to %s, which is not an address of this host (%s); fine if a NAT or load balancer forwards ports 80 and 443 here, otherwise fix the DNS record",
			r.Domain, joinIPs(r.Addrs), joinIPs(r.Local))
	}
	return ""
}

// String is one line for `linehub check`.
func (r DNSReport) String() string {
	if r.OK() && r.LocalErr != nil {
		return fmt.Sprintf("%s resolves to %s (not compared with this host's addresses, which could not be listed: %v)", r.Domain, joinIPs(r.Addrs), r.LocalErr)
	}
	if r.OK() {
		return fmt.Sprintf("%s resolves to %s (this host)", r.Domain, joinIPs(r.matches()))
	}
	return r.Problem()
}

func joinIPs(ips []net.IP) string {
	if len(ips) == 0 {
		return "none"
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ", ")
}

// CheckDNS resolves domain and compares it with this host's addresses.
// It only warns: split-horizon DNS or a NAT in front may well be right.
func CheckDNS(ctx context.Context, domain string) DNSReport {
	r := DNSReport{Domain: domain}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, domain)
	if err != nil {
		r.Err = err
		return r
	}
	for _, a := range addrs {
		r.Addrs = append(r.Addrs, a.IP)
	}
	ifAddrs, err := net.InterfaceAddrs()
	r.LocalErr = err
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok {
			r.Local = append(r.Local, n.IP)
		}
	}
	return r
}

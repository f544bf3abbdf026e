// Package request reads what the JSON API and the dashboard both take
// from a request: ids in the path, the connection they name, limits in
// the query, a JSON body, and where the request came from. Each answers a
// bad value with the fiber error the shared error handler shows.
package request

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/store"
)

// PathID reads the positive id in path parameter name; what names the
// thing in the 404 for anything else.
func PathID(c *fiber.Ctx, name, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fiber.NewError(fiber.StatusNotFound, "no "+what+" "+c.Params(name))
	}
	return id, nil
}

// ConnectionID reads the connection id in :id.
func ConnectionID(c *fiber.Ctx) (int64, error) {
	return PathID(c, "id", "connection")
}

// Connection resolves :id to a connection that exists.
func Connection(c *fiber.Ctx, st *store.Store) (*store.Connection, error) {
	id, err := ConnectionID(c)
	if err != nil {
		return nil, err
	}
	return st.Connection(c.UserContext(), id)
}

// OptionalConnection resolves :id for routes that exist both globally and
// per connection; 0 means "all connections".
func OptionalConnection(c *fiber.Ctx, st *store.Store) (int64, error) {
	if c.Params("id") == "" {
		return 0, nil
	}
	conn, err := Connection(c, st)
	if err != nil {
		return 0, err
	}
	return conn.ID, nil
}

// QueryLimit reads ?limit=, def when absent.
func QueryLimit(c *fiber.Ctx, def, maxN int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxN {
		return 0, fiber.NewError(fiber.StatusBadRequest, "limit must be between 1 and "+strconv.Itoa(maxN))
	}
	return n, nil
}

// QueryInt reads a whole number lo..hi from query parameter name, def
// when absent.
func QueryInt(c *fiber.Ctx, name string, def, lo, hi int64) (int64, error) {
	q := c.Query(name)
	if q == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(q, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("%s must be a whole number %d..%d", name, lo, hi))
	}
	return n, nil
}

// ParseJSON decodes a JSON body into v.
func ParseJSON(c *fiber.Ctx, v any) error {
	if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send JSON with Content-Type: application/json")
	}
	// The raw body: BodyParser would inflate a compressed body without limit.
	if err := json.Unmarshal(c.Request().Body(), v); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "invalid JSON: "+err.Error())
	}
	return nil
}

// IsLocal says whether a request comes from this host directly, not
// through a proxy running here.
func IsLocal(c *fiber.Ctx) bool {
	return isLoopback(c.Context().RemoteIP()) &&
		c.Get(fiber.HeaderXForwardedFor) == "" && c.Get("Forwarded") == "" && c.Get("X-Real-Ip") == ""
}

func isLoopback(ip net.IP) bool { return ip != nil && ip.IsLoopback() }

// ClientIP is the address a request came from. A reverse proxy on this
// host appends its client's address to X-Forwarded-For (or sets
// X-Real-IP); only a loopback peer is believed, and only the last entry,
// which is the proxy's own: a client can forge the ones before it.
func ClientIP(c *fiber.Ctx) string {
	peer := c.Context().RemoteIP()
	if isLoopback(peer) {
		if xff := c.Get(fiber.HeaderXForwardedFor); xff != "" {
			hops := strings.Split(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(hops[len(hops)-1])); ip != nil {
				return ip.String()
			}
		}
		if ip := net.ParseIP(strings.TrimSpace(c.Get("X-Real-Ip"))); ip != nil {
			return ip.String()
		}
	}
	return peer.String()
}

// AddressGroup is the part of a client address a per-address limit keys
// on: the whole IPv4 address, but an IPv6 address's /64, since one
// subscriber usually holds a whole /64 and could otherwise make a fresh
// key for every attempt.
func AddressGroup(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

package connections

import (
	"context"
	"errors"
	"strconv"
	"time"

	"linehub/app/line"
)

// ErrHubSpotNotConfigured means no HubSpot token is set yet.
var ErrHubSpotNotConfigured = errors.New("no HubSpot token configured yet")

// CheckHubSpot asks HubSpot whether the current token works. A token
// HubSpot refuses gives an error that errors.Is hubspot.ErrUnauthorized.
func (b *Registry) CheckHubSpot(ctx context.Context) error {
	if !b.hs.HasToken() {
		return ErrHubSpotNotConfigured
	}
	_, err := b.hs.AccountDetails(ctx)
	return err
}

// TimeZone is the HubSpot account's time zone (the portal's, in which its
// users read times), nil until linehub has read the account's details.
func (b *Registry) TimeZone() *time.Location { return b.hs.TimeZone() }

// learnAccount asks HubSpot, with the live client, for the account's time
// zone (the daily limit resets at its midnight; the client assumes UTC
// until told) and portal id (the dashboard links contacts with it), which
// a token from config.yaml never had saved. It tries until it succeeds or
// ctx ends, waiting while no token is set.
func (b *Registry) learnAccount(ctx context.Context) {
	wait := time.Minute
	for {
		if b.hs.HasToken() {
			err := b.storeAccount(ctx)
			if err == nil || ctx.Err() != nil {
				return
			}
			b.log.Warn("reading HubSpot account details failed; trying again later", "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Minute)
	}
}

func (b *Registry) storeAccount(ctx context.Context) error {
	acct, err := b.hs.AccountDetails(ctx)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(acct.PortalID, 10)
	if old, err := b.st.Setting(ctx, settingHubSpotPortal); err != nil || old == id || acct.PortalID == 0 {
		return err
	}
	return b.st.SetSetting(ctx, settingHubSpotPortal, id)
}

// ErrNoChannelToken means a connection has no channel access token yet.
var ErrNoChannelToken = errors.New("no channel access token set")

// CheckLINE asks LINE who the connection's channel access token belongs to.
func (b *Registry) CheckLINE(ctx context.Context, connID int64) (line.BotInfo, error) {
	cs, err := b.ByID(ctx, connID)
	if err != nil {
		return line.BotInfo{}, err
	}
	if cs.Client == nil {
		return line.BotInfo{}, ErrNoChannelToken
	}
	return cs.Client.BotInfo(ctx)
}

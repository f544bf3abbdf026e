package bridge

import (
	"context"
	"errors"

	"linehub/app/line"
)

// ErrHubSpotNotConfigured means no HubSpot token is set yet.
var ErrHubSpotNotConfigured = errors.New("no HubSpot token configured yet")

// CheckHubSpot asks HubSpot whether the current token works. A token
// HubSpot refuses gives an error that errors.Is hubspot.ErrUnauthorized.
func (b *Bridge) CheckHubSpot(ctx context.Context) error {
	if !b.hs.HasToken() {
		return ErrHubSpotNotConfigured
	}
	_, err := b.hs.AccountDetails(ctx)
	return err
}

// ErrNoChannelToken means a connection has no channel access token yet.
var ErrNoChannelToken = errors.New("no channel access token set")

// CheckLINE asks LINE who the connection's channel access token belongs to.
func (b *Bridge) CheckLINE(ctx context.Context, connID int64) (line.BotInfo, error) {
	cs, err := b.connByID(ctx, connID)
	if err != nil {
		return line.BotInfo{}, err
	}
	if cs.client == nil {
		return line.BotInfo{}, ErrNoChannelToken
	}
	return cs.client.BotInfo(ctx)
}

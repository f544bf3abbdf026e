package hubspot

import (
	"context"
	"fmt"
	"net/http"
)

// Account is what HubSpot reports about the connected account.
type Account struct {
	PortalID            int64
	TimeZone            string
	AccountType         string
	UIDomain            string
	DataHostingLocation string
}

type accountJSON struct {
	PortalID            int64  `json:"portalId"`
	TimeZone            string `json:"timeZone"`
	AccountType         string `json:"accountType"`
	UIDomain            string `json:"uiDomain"`
	DataHostingLocation string `json:"dataHostingLocation"`
}

// AccountDetails fetches the account's details. It doubles as a token check
// (a bad token gives an error that errors.Is ErrUnauthorized), and teaches the
// client the account's time zone, in which the daily limit resets.
func (c *Client) AccountDetails(ctx context.Context) (Account, error) {
	path := accountDetailsPath()
	resp, err := c.do(ctx, http.MethodGet, path, nil, callOpts{})
	if err != nil {
		return Account{}, err
	}
	if err := expect(resp, http.MethodGet, path); err != nil {
		return Account{}, err
	}
	var a accountJSON
	if err := resp.decode(&a); err != nil {
		return Account{}, fmt.Errorf("account details: %w", err)
	}
	c.SetTimeZone(a.TimeZone)
	return Account(a), nil
}

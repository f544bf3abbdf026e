package connections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A HubSpot app linehub wrote for the portal (see app/hubspotproject)
// sends signed requests: card fetches, workflow-action calls, webhooks.
// Its static access token is a bearer token like a service key and goes
// into the HubSpot token setting; what is kept here is what checks the
// app's requests: its id and client secret (sealed at rest).
const (
	settingHubSpotAppID     = "hubspot.app_id"
	settingHubSpotAppSecret = "hubspot.app_client_secret"
)

// HubSpotApp is the app's settings. PortalID is the portal of the saved
// HubSpot token: the only portal whose requests linehub answers.
type HubSpotApp struct {
	Configured   bool   `json:"configured"`
	AppID        string `json:"app_id,omitempty"`
	ClientSecret string `json:"-"`
	PortalID     int64  `json:"portal_id,omitempty"`
}

// HubSpotApp returns the app's settings, with the secret opened.
func (b *Registry) HubSpotApp(ctx context.Context) (HubSpotApp, error) {
	id, err := b.st.Setting(ctx, settingHubSpotAppID)
	if err != nil {
		return HubSpotApp{}, fmt.Errorf("read HubSpot app id: %w", err)
	}
	secret, err := b.st.SecretSetting(ctx, settingHubSpotAppSecret)
	if err != nil {
		return HubSpotApp{}, fmt.Errorf("read HubSpot app secret: %w", err)
	}
	app := HubSpotApp{AppID: id, ClientSecret: secret, Configured: secret != ""}
	if p, _ := b.st.Setting(ctx, settingHubSpotPortal); p != "" {
		app.PortalID, _ = strconv.ParseInt(p, 10, 64)
	}
	return app, nil
}

// ConfigureHubSpotApp saves the app's id and client secret. An empty
// secret keeps the saved one (the form never shows it back), so the id
// can be corrected alone.
func (b *Registry) ConfigureHubSpotApp(ctx context.Context, appID, clientSecret string) (HubSpotApp, error) {
	appID = strings.TrimSpace(appID)
	clientSecret = strings.TrimSpace(clientSecret)
	if appID != "" {
		if _, err := strconv.ParseUint(appID, 10, 63); err != nil || len(appID) > 20 {
			return HubSpotApp{}, CodedErr(CodeHubSpotAppID, "the app id is the number HubSpot shows on the app's page (Development → Projects → the app)")
		}
	}
	// HubSpot's client secrets are UUIDs; anything far off is a paste of
	// something else (the access token, a URL).
	if n := utf8.RuneCountInString(clientSecret); clientSecret != "" && (n < 16 || n > 200 || strings.ContainsAny(clientSecret, " \t/")) {
		return HubSpotApp{}, CodedErr(CodeHubSpotAppSecret, "this does not look like the app's client secret (a UUID such as 1a2b3c4d-…, under Auth on the app's page)")
	}
	values := map[string]string{settingHubSpotAppID: appID}
	secret := map[string]bool{}
	if clientSecret != "" {
		values[settingHubSpotAppSecret] = clientSecret
		secret[settingHubSpotAppSecret] = true
	} else if cur, err := b.HubSpotApp(ctx); err != nil {
		return HubSpotApp{}, err
	} else if !cur.Configured {
		return HubSpotApp{}, CodedErr(CodeHubSpotAppSecret, "the app's client secret is required (under Auth on the app's page)")
	}
	if err := b.st.SetSettings(ctx, values, secret); err != nil {
		return HubSpotApp{}, fmt.Errorf("save HubSpot app settings: %w", err)
	}
	b.log.Info("HubSpot app configured", "app_id", appID)
	return b.HubSpotApp(ctx)
}

// RemoveHubSpotApp forgets the app's settings: its requests are refused
// from then on.
func (b *Registry) RemoveHubSpotApp(ctx context.Context) error {
	if err := b.st.SetSettings(ctx, map[string]string{settingHubSpotAppID: "", settingHubSpotAppSecret: ""}, nil); err != nil {
		return fmt.Errorf("remove HubSpot app settings: %w", err)
	}
	b.log.Info("HubSpot app removed")
	return nil
}

package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/contactsync"
	"linehub/app/hubspotproject"
	"linehub/app/store"
)

// HubSpotAppOptions are the HubSpot project's settings as a process that
// is not the server (the command line) sees them: the public URL saved in
// the wizard is read from the database first, as the server does at
// start-up.
func HubSpotAppOptions(ctx context.Context, st *store.Store, cfg *config.Config) (hubspotproject.Options, error) {
	if v, err := st.Setting(ctx, settingPublicURL); err == nil {
		cfg.SetWizardPublicURL(v)
	}
	return hubSpotAppOptions(ctx, st, cfg)
}

// hubSpotAppOptions fills the project with the public URL in use and the
// LINE properties of every active connection, whose changes the app's
// webhooks report.
func hubSpotAppOptions(ctx context.Context, st *store.Store, cfg *config.Config) (hubspotproject.Options, error) {
	conns, err := st.Connections(ctx)
	if err != nil {
		return hubspotproject.Options{}, err
	}
	var props []string
	for _, c := range conns {
		props = append(props, contactsync.PropertyNames(c.Serial)...)
	}
	return hubspotproject.Options{PublicURL: cfg.WebhookBaseURL(), Properties: props}, nil
}

// hubspotAppZip serves the HubSpot project as a zip for the admin to
// upload with the HubSpot CLI. It holds no secret, but it names this
// server's address and LINE properties, so only a signed-in admin gets it.
func (s *Server) hubspotAppZip(c *fiber.Ctx) error {
	o, err := hubSpotAppOptions(c.UserContext(), s.st, s.cfg)
	if err != nil {
		return fmt.Errorf("hubspot app: %w", err)
	}
	var b bytes.Buffer
	if err := hubspotproject.WriteZip(&b, o); err != nil {
		if errors.Is(err, hubspotproject.ErrNotHTTPS) {
			return s.settingsWith(c, fiber.StatusConflict, "", s.locale(c).T("hubspot_app.err_https", s.cfg.WebhookBaseURL()))
		}
		return fmt.Errorf("hubspot app: %w", err)
	}
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+hubspotproject.DirName+`.zip"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(b.Bytes())
}

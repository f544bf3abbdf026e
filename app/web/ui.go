package web

import (
	"github.com/gofiber/fiber/v2"

	"linehub/assets"
)

// uiRoutes registers the admin's browser pages.
func (s *server) uiRoutes(app *fiber.App) {
	app.Get("/", func(c *fiber.Ctx) error {
		page, err := assets.Pages.ReadFile("pages/index.html")
		if err != nil {
			return err
		}
		c.Type("html", "utf-8")
		return c.Send(page)
	})
}
